"""Issue 23: `ostops validate` checks scenario files offline (no instance file, no osTicket): the shape, and every
name against the seed file; exit 0 with one line per file, exit 2 with every problem at its file:line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from automation.cli import main
from tests.helpers.osticket import REPO

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
SEED = REPO / "seed" / "helpdesk.yaml"


@pytest.fixture(autouse=True)
def no_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No instance file anywhere: validate must not need one."""
    monkeypatch.setenv("OSTOPS_INSTANCE", str(tmp_path / "nowhere" / "instance.json"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def scenario(tmp_path: Path, name: str = "s.yaml", seed: str | None = str(SEED), **expect: str) -> Path:
    document: dict[str, object] = {
        "name": "Imprimante « en feu » & <co> 打印机",
        "tickets": [{"key": "printer", "subject": 'Printer "on fire" & < smoke — café 打印机',
                     "message": "It's on fire.\nReally.", "requester": {"name": "Zoë O'Brien", "email": "zoe@example.com"},
                     "steps": [{"as": "john.doe", "do": "reply", "text": "Looking < now & soon"}],
                     "expect": {"status": "Open", **expect}}]}
    if seed is not None:
        document["seed"] = seed
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``ostops validate ARGS`` through the CLI's own error mapping: (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["ostops", "validate", *args])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        return int(stopped.value.code or 0), captured.out, captured.err

    return run


def test_the_shipped_scenarios_are_valid_against_their_seed_with_no_instance(invoke: Invoke) -> None:
    files = sorted((REPO / "seed" / "scenarios").glob("*.yaml"))
    code, stdout, _ = invoke(*map(str, files))
    assert code == 0, stdout
    lines = stdout.strip().splitlines()
    assert len(lines) == len(files)
    assert lines[0].startswith(f"valid: {files[0]}: 3 ticket(s), 25 step(s); names checked against {SEED}")


def test_every_unknown_name_is_named_at_its_line_with_a_suggestion(tmp_path: Path, invoke: Invoke) -> None:
    path = scenario(tmp_path, team="Nord «Night»", agent="jane.do", sla="Sev-Z")
    code, _, stderr = invoke(str(path))
    assert code == 2
    text = " ".join(stderr.split())
    assert f"{path}: 3 unknown names; checked against {SEED}" in text
    assert "tickets[0].expect.agent: unknown agent 'jane.do' (did you mean 'jane.doe'?)" in text
    assert "unknown team 'Nord «Night»'" in text and "unknown SLA 'Sev-Z'" in text
    assert text.count(f"{path}:") >= 4  # each problem at its file:line


def test_fresh_install_names_need_no_seed_entry(tmp_path: Path, invoke: Invoke) -> None:
    path = scenario(tmp_path, team="Level I Support", department="Maintenance", sla="Default SLA")
    assert invoke(str(path))[0] == 0


def test_seed_option_replaces_the_scenario_s_own(tmp_path: Path, invoke: Invoke) -> None:
    other = tmp_path / "other-seed.yaml"
    other.write_text(yaml.safe_dump({"teams": [{"name": "Nord «Night» & Day"}]}, allow_unicode=True), "utf-8")
    path = scenario(tmp_path, team="Nord «Night» & Day")
    assert invoke(str(path))[0] == 2  # not in the scenario's own seed
    code, stdout, stderr = invoke(str(path), "--seed", str(other))
    # john.doe acts, and this seed does not define him: unknown, and not blamed on an unapplied seed
    assert code == 2 and "unknown agent 'john.doe'" in stderr and "not applied" not in stderr
    del stdout


def test_no_seed_at_all_checks_the_shape_only_and_says_so(tmp_path: Path, invoke: Invoke) -> None:
    code, stdout, _ = invoke(str(scenario(tmp_path, seed=None, team="anything")))
    assert code == 0
    assert "shape only: no seed file" in " ".join(stdout.split())


def test_a_bad_shape_is_exit_2_at_its_line(tmp_path: Path, invoke: Invoke) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntickets:\n  - key: a\n    subjet: typo\n", encoding="utf-8")
    code, _, stderr = invoke(str(path))
    assert code == 2 and f"{path}:4" in stderr


def test_a_bad_seed_file_is_exit_2_naming_it(tmp_path: Path, invoke: Invoke) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("teams:\n  - name: A\n    colour: red\n", encoding="utf-8")
    code, _, stderr = invoke(str(scenario(tmp_path)), "--seed", str(seed))
    assert code == 2 and f"{seed}:3" in stderr
    code, _, stderr = invoke(str(scenario(tmp_path)), "--seed", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in stderr


def test_several_files_report_every_invalid_one_and_exit_2(tmp_path: Path, invoke: Invoke) -> None:
    good = scenario(tmp_path, "good.yaml")
    bad1 = scenario(tmp_path, "bad1.yaml", team="Ghost")
    bad2 = scenario(tmp_path, "bad2.yaml", agent="nobody.here")
    code, stdout, stderr = invoke(str(good), str(bad1), str(bad2))
    assert code == 2
    assert f"valid: {good}" in stdout
    text = " ".join(stderr.split())
    assert f"2 of 3 scenario files are invalid: {bad1}, {bad2}" in text
    assert "unknown team 'Ghost'" in text and "unknown agent 'nobody.here'" in text


def test_json_gives_each_file_s_outcome(tmp_path: Path, invoke: Invoke) -> None:
    good, bad = scenario(tmp_path, "good.yaml"), scenario(tmp_path, "bad.yaml", team="Ghost")
    code, stdout, _ = invoke(str(good), str(bad), "--json")
    assert code == 2
    document = json.loads(stdout)
    assert (document["command"], document["ok"]) == ("validate", False)
    by_file = {f["file"]: f for f in document["files"]}
    assert by_file[str(good)]["ok"] and by_file[str(good)]["tickets"] == 1 and by_file[str(good)]["steps"] == 1
    assert not by_file[str(bad)]["ok"] and "unknown team 'Ghost'" in by_file[str(bad)]["problems"][0]


def test_no_file_is_a_usage_error(invoke: Invoke) -> None:
    assert invoke()[0] == 2


def test_lab_against_a_scenario_file_read_once_per_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke: Invoke) -> None:
    from automation.scenarios import validate

    calls: list[Path] = []
    real = validate.load_seed

    def counting(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path)

    monkeypatch.setattr(validate, "load_seed", counting)
    assert invoke(str(LAB), str(scenario(tmp_path)), "--seed", str(SEED))[0] == 0
    assert calls == [SEED]
