"""The bootstrap split into modules (infra/bootstrap/modules) and composed per role by infra/bootstrap_command.py.

Structural invariants, parsed with tree-sitter: every module parses; no function or step is defined twice in a
composed script; every function of ours that a role's script calls is defined in that script; the steps come in
the order of ROLE_MODULES with 'Validate settings' first; every module belongs to a role.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from automation.errors import ConfigError
from infra.bootstrap_command import (
    INSTALL_ROLE,
    MAX_INLINE_SCRIPT_BYTES,
    MODULES_DIR,
    PLACEHOLDER,
    ROLE_MODULES,
    WEB_ROLE,
    compose_script,
    read_bootstrap_files,
    read_modules,
)
from tests.infra.test_bootstrap import all_problems, commands, parse, parse_problems, steps, text, walk

pytestmark = pytest.mark.infra


@cache
def scripts() -> dict[str, str]:
    return dict(read_bootstrap_files().scripts)


def defined_functions(source: str) -> list[str]:
    return [text(c) for n in walk(parse(source).root_node) if n.type == "function_statement"
            for c in n.children if c.type == "function_name"]


def module_functions() -> dict[str, list[str]]:
    return {path.stem: defined_functions(path.read_text(encoding="utf-8")) for path in sorted(MODULES_DIR.glob("*.ps1"))}


def called_own_functions(source: str) -> set[str]:
    ours = {name.lower() for names in module_functions().values() for name in names}
    return {c.name for c in commands(source) if c.name.lower() in ours}


def test_every_module_parses_and_belongs_to_a_role() -> None:
    on_disk = sorted(path.stem for path in MODULES_DIR.glob("*.ps1"))
    named = sorted({name for modules in ROLE_MODULES.values() for name in modules})
    assert on_disk == named
    for name in on_disk:
        source = (MODULES_DIR / f"{name}.ps1").read_text(encoding="utf-8")
        assert parse_problems(source) == [], name
        assert PLACEHOLDER not in source, name


@pytest.mark.parametrize("role", sorted(ROLE_MODULES))
def test_a_role_s_script_defines_each_function_once_and_every_function_it_calls(role: str) -> None:
    source = scripts()[role]
    assert parse_problems(source) == []
    defined = [name.lower() for name in defined_functions(source)]
    assert sorted({n for n in defined if defined.count(n) > 1}) == []
    missing = sorted(name for name in called_own_functions(source) if name.lower() not in defined)
    assert missing == [], f"the {role} role calls functions its modules do not define"


@pytest.mark.parametrize("role", sorted(ROLE_MODULES))
def test_a_role_s_steps_are_unique_and_follow_the_module_order(role: str) -> None:
    names = [step.name for step in steps(scripts()[role])]
    assert len(names) == len(set(names))
    assert names[0] == "Validate settings"
    # Composition order is step order: the steps of each module, module after module.
    by_module = [step.name for module in ROLE_MODULES[role]
                 for step in steps((MODULES_DIR / f"{module}.ps1").read_text(encoding="utf-8"))]
    assert names == by_module
    modules = ROLE_MODULES[role]
    assert modules[0] == "00-settings" and modules[-1] == "99-run" and list(modules) == sorted(modules)


def test_the_steps_both_roles_share_run_in_the_same_order() -> None:
    install = [step.name for step in steps(scripts()[INSTALL_ROLE])]
    web = [step.name for step in steps(scripts()[WEB_ROLE])]
    shared = [name for name in install if name in web]
    assert [name for name in web if name in install] == shared
    assert len(shared) >= 10


def test_the_install_role_is_every_module_and_passes_every_check() -> None:
    assert set(ROLE_MODULES[INSTALL_ROLE]) == {path.stem for path in MODULES_DIR.glob("*.ps1")} - {
        name for name in ROLE_MODULES[WEB_ROLE] if name not in ROLE_MODULES[INSTALL_ROLE]}
    assert all_problems(scripts()[INSTALL_ROLE]) == {}


def test_a_function_missing_from_a_role_is_caught() -> None:
    """The check above notices a call to one of our functions whose module the role lacks."""
    modules = read_modules()
    entry = (MODULES_DIR.parent / "bootstrap.ps1").read_text(encoding="utf-8")
    source = compose_script(entry, {**modules, "10-common": modules["10-common"].replace(
        "function Write-TextFile {", "function Write-TextFileGone {")}, INSTALL_ROLE)
    defined = {name.lower() for name in defined_functions(source)}
    assert "Write-TextFile" in called_own_functions(source) - {n for n in called_own_functions(source) if n.lower() in defined}


def test_an_unknown_role_and_a_placeholder_in_a_module_are_refused(tmp_path: Path) -> None:
    modules = read_modules()
    with pytest.raises(ConfigError, match="bootstrap role 'db' is not one of install, web"):
        compose_script("", modules, "db")
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, source in modules.items():
        (folder / f"{name}.ps1").write_text(source + (f"# {PLACEHOLDER}\n" if name == "85-check" else ""))
    with pytest.raises(ConfigError, match=r"85-check\.ps1: the settings placeholder .* belongs in .*bootstrap\.ps1 only"):
        read_bootstrap_files(modules_dir=folder)
    (folder / "85-check.ps1").unlink()
    with pytest.raises(ConfigError, match=r"85-check\.ps1: bootstrap module not found"):
        read_bootstrap_files(modules_dir=folder)


@pytest.mark.parametrize("role", sorted(ROLE_MODULES))
def test_each_role_s_script_is_within_the_inline_budget_with_room(role: str) -> None:
    size = len(scripts()[role].encode("utf-8"))
    # Settings add the manifest and the installer as base64 (about 12 KB); measured in test_issue20.
    assert size + 20_000 < MAX_INLINE_SCRIPT_BYTES, size
