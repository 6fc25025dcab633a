"""YAML edge cases in seed and scenario files: one clear problem with file:line, exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from automation import yamlfile
from automation.errors import ScenarioError, SeedError
from automation.scenarios.loader import load_scenario
from automation.seeding.loader import load_seed, parse_seed

OSTOPS = str(Path(sys.executable).parent / "ostops")

# name → (file content, the problem's line, words the problem must contain)
BAD_YAML: dict[str, tuple[bytes, int, str]] = {
    "non_utf8": (b"slas:\n  - name: Caf\xe9\n    grace_hours: 4\n", 2, "not UTF-8 text (byte 0xe9); save the file as UTF-8"),
    "complex_key": (b"? [a, b]\n: 1\n", 1, "a key must be a plain name, not a list"),
    "python_tag": (b'!!python/object:os.system "echo pwn"\n', 1, "unsupported YAML tag !!python/object:os.system"),
    "python_tag_nested": (b"slas:\n  - name: !!python/name:os.system\n", 2,
                          "slas[0].name: unsupported YAML tag !!python/name:os.system"),
    "custom_tag": (b"slas:\n  - name: X\n    grace_hours: !custom 3\n", 3,
                   "slas[0].grace_hours: unsupported YAML tag !custom; remove it"),
    "custom_tag_on_mapping": (b"slas: !things\n  - name: X\n", 1, "unsupported YAML tag !things"),
    "bad_explicit_int": (b"slas:\n  - name: X\n    grace_hours: !!int four\n", 3, "'four' is not a valid int"),
    "bad_explicit_bool": (b"x: !!bool maybe\n", 1, "'maybe' is not a valid bool"),
    "recursive_alias": (b"a: &a [*a]\n", 1, "a[0]: this alias (*name) refers to a value that contains it"),
    "recursive_mapping": (b"a: &a {b: *a}\n", 1, "a.b: this alias (*name) refers to a value that contains it"),
    "merge_key": (b"base: &b {grace_hours: 4}\nslas:\n  - <<: *b\n    name: X\n", 3, "merge keys (<<: *name)"),
    "control_character": (b"slas:\n  - name: A\x00\n", 2, "control character #x0000"),
}


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", sorted(BAD_YAML))
def test_seed_loader_reports_yaml_edge_cases(tmp_path: Path, name: str) -> None:
    content, line, words = BAD_YAML[name]
    path = write(tmp_path, name, content)
    with pytest.raises(SeedError) as info:
        load_seed(path)
    assert info.value.exit_code == 2
    assert str(info.value) == f"{path}: 1 problem"
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"{path}:{line}"), info.value.problems
    assert words in info.value.problems[0]


@pytest.mark.parametrize("name", sorted(BAD_YAML))
def test_scenario_loader_gives_the_same_problem_as_the_seed_loader(tmp_path: Path, name: str) -> None:
    content, _, _ = BAD_YAML[name]
    path = write(tmp_path, name, content)
    with pytest.raises(SeedError) as seed_info:
        load_seed(path)
    with pytest.raises(ScenarioError) as scenario_info:
        load_scenario(path)
    assert scenario_info.value.exit_code == 2
    assert scenario_info.value.problems == seed_info.value.problems


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSTOPS_INSTANCE": str(tmp_path / "no-instance" / "instance.json"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([OSTOPS, *args], capture_output=True, text=True, timeout=60, check=False, env=env)


@pytest.mark.parametrize("command", [["seed"], ["seed", "--plan"], ["run"], ["load", "--tickets", "2", "--scenario"]])
@pytest.mark.parametrize("name", ["non_utf8", "complex_key", "python_tag", "custom_tag", "recursive_alias"])
def test_cli_exits_2_with_file_and_line_and_no_traceback(tmp_path: Path, command: list[str], name: str) -> None:
    content, line, words = BAD_YAML[name]
    path = write(tmp_path, name, content)
    result = run(*command, str(path), tmp_path=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert f"{path}:{line}" in output and words in " ".join(output.split()), output


def test_cli_invalid_date_is_just_text_in_a_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, "badts", b"name: 2001-13-45\ntickets: []\n")
    result = run("run", str(path), tmp_path=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert f"{path}:2 tickets: no tickets: the list is empty; add at least one" in output


def test_dates_stay_text() -> None:
    located = yamlfile.parse("a: 2001-12-14\nb: 2001-13-45\nc: 2001-12-14t21:59:43.10-05:00\nd: !!timestamp x\n",
                             "t.yaml")
    assert located.data == {"a": "2001-12-14", "b": "2001-13-45", "c": "2001-12-14t21:59:43.10-05:00", "d": "x"}


def test_a_date_shaped_sla_name_is_accepted() -> None:
    seed = parse_seed("slas:\n  - name: 2001-12-14\n    grace_hours: 4\n", "s.yaml")
    assert [s.name for s in seed.slas] == ["2001-12-14"]


def test_plain_values_keep_their_yaml_types_and_lines() -> None:
    text = "a: 1\nb: 1.5\nc: true\nd: ~\ne: !!str 12\nf: [x, {g: h}]\nh: =\n"
    located = yamlfile.parse(text, "t.yaml")
    assert located.data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "12", "f": ["x", {"g": "h"}], "h": "="}
    assert located.line(("f", 1, "g")) == 6
    assert located.where(("e",)) == "t.yaml:5 e"


def test_aliases_that_do_not_refer_to_themselves_still_work() -> None:
    located = yamlfile.parse("a: &x {b: 1}\nc: *x\nd: [*x, *x]\n", "t.yaml")
    assert located.data == {"a": {"b": 1}, "c": {"b": 1}, "d": [{"b": 1}, {"b": 1}]}


def test_duplicate_keys_are_still_reported_with_their_lines() -> None:
    # The document stays readable (the last value wins), so its other problems can be listed beside these.
    located = yamlfile.parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "t.yaml")
    assert located.problems == ["t.yaml:4 b.c: duplicate key 'c'", "t.yaml:5 a: duplicate key 'a'"]


def test_every_problem_in_the_document_is_listed() -> None:
    with pytest.raises(yamlfile.YamlFileError) as info:
        yamlfile.parse("a: !x 1\nb: &b [*b]\na: 2\n", "t.yaml")
    assert info.value.message == "t.yaml: 3 problems"
    assert [p.split(" ", 1)[0] for p in info.value.problems] == ["t.yaml:1", "t.yaml:2", "t.yaml:3"]


BOMB = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'] + [
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)]


@pytest.mark.parametrize("parser", ["libyaml", "pure Python"])
def test_alias_bombs_are_refused_in_plain_words(parser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: the message showed an internal counter (the file's length plus a budget); now the line where the
    aliases pass the limit, and the limit."""
    if parser == "pure Python":
        monkeypatch.setattr(yamlfile, "_FastLoader", None)
    with pytest.raises(yamlfile.YamlFileError) as caught:
        yamlfile.parse("\n".join(BOMB) + "\n", "t.yaml")
    # f: nests e (9**5 = 59,049 values) nine times: the second one passes 100,000
    assert caught.value.problems == [("t.yaml:6: too many alias expansions: the aliases (*name) repeat more than "
                                      "100,000 values (limit 100,000); write the repeated values out, or nest fewer "
                                      "aliases in each other")]


def test_aliases_below_the_limit_and_long_files_are_read() -> None:
    text = "\n".join(BOMB[:5]) + "\n"  # e: 9**4 = 6,561 values, repeated once more by nothing
    assert len(yamlfile.parse(text, "t.yaml").data["e"]) == 9
    many = "items:\n" + "".join(f"  - {{a: {i}, b: [x, y]}}\n" for i in range(60_000))  # 240,000 values written out
    assert len(yamlfile.parse(many, "t.yaml").data["items"]) == 60_000


@pytest.mark.parametrize("depth", [2000, 20000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    with pytest.raises(yamlfile.YamlFileError, match=r"t\.yaml: invalid YAML: nested too deeply"):
        yamlfile.parse("a: " + "[" * depth + "]" * depth + "\n", "t.yaml")


def test_unreadable_seed_file_uses_the_scenario_wording(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(SeedError) as info:
        load_seed(path)
    assert info.value.problems == [f"{path}: cannot read it: No such file or directory"]
