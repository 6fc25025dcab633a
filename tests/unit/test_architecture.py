"""The layout's rules, read from the code: no import circles in automation/, every module importable on its
own, click only in automation/cli/, every exception class in the one tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "automation"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every automation module ``path`` imports, at any depth of the file (a deferred import inside a function
    is still a dependency); ``from a import b`` counts as ``a.b`` when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


def graph() -> dict[str, set[str]]:
    edges = {name: imports_of(path) - {name} for name, path in MODULES.items()}
    # Importing "a.b.c" runs the package "a.b" first: an edge to it too, unless the importer is inside "a.b"
    # (then "a.b" is already being imported).
    for name, targets in edges.items():
        for target in list(targets):
            parts = target.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if package in MODULES and not name.startswith(package + "."):
                    targets.add(package)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_in_automation() -> None:
    assert cycles(graph()) == []


def test_click_is_imported_only_by_the_cli_package() -> None:
    offenders = [name for name, path in MODULES.items()
                 if not name.startswith("automation.cli") and any(
                     (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "click" for a in n.names))
                     or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "click")
                     for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert offenders == []


def test_every_exception_class_derives_from_the_base_in_errors() -> None:
    from automation.errors import Interrupted, OsTicketError

    # Two roots, both in errors.py: OsTicketError, and Interrupted (a signal; a BaseException so that no
    # `except OsTicketError` takes it for a failure).

    outside = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                    and any(isinstance(base, ast.Name) and base.id in ("Exception", "BaseException")
                            for base in node.bases)
                    and (name != "automation.errors"
                         or node.name not in (OsTicketError.__name__, Interrupted.__name__))):
                outside.append(f"{name}.{node.name}")
    assert outside == []


def test_the_errors_docstring_draws_every_class_of_the_tree() -> None:
    from automation import errors

    classes = [name for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, errors.OsTicketError)]
    assert errors.__doc__ is not None
    assert [name for name in classes if name not in errors.__doc__] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_on_its_own(module: str) -> None:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], check=False, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
