"""--json documents share one shape: {"command": ..., "ok": <exit code 0>, ...the command's fields}."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from automation.cli import cli, exit_code_for_outcome
from automation.cli.common import json_document
from automation.local.manager import Health
from automation.manifest import MANIFEST_PATH


def test_the_shape_puts_command_and_ok_first() -> None:
    assert list(json_document("seed", True, create=1)) == ["command", "ok", "create"]


@pytest.mark.parametrize(("checks", "code"), [
    ({"http": (True, "200"), "database": (True, "ok")}, 0),
    ({"http": (True, "200"), "database": (False, "refused")}, 4),  # the database down: the environment
])
def test_local_status_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checks: dict[str, tuple[bool, str]],
                           code: int) -> None:
    monkeypatch.setattr("automation.workspace.Workspace.instance", lambda self: object())
    monkeypatch.setattr("automation.local.manager.status", lambda instance: Health(checks))
    result = CliRunner().invoke(cli, ["local", "status", "--json", "--instance", str(tmp_path / "i.json")],
                                standalone_mode=False)
    assert exit_code_for_outcome(result.return_value) == code
    document = json.loads(result.stdout)
    assert document["command"] == "local status" and document["ok"] is (code == 0)
    assert document["checks"]["database"] == {"ok": checks["database"][0], "detail": checks["database"][1]}


def test_manifest_check_json() -> None:
    result = CliRunner().invoke(cli, ["manifest", "check", "--json", "--manifest", str(MANIFEST_PATH)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["command"], document["ok"]) == ("manifest check", True)
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert set(document["downloads"]) == set(raw["downloads"])
    for name, entry in document["downloads"].items():
        assert entry["verify"] == raw["downloads"][name].get("verify", "sha256")
        assert entry["sha256"] is None or len(entry["sha256"]) == 64, name


def test_manifest_check_json_is_offline_only() -> None:
    result = CliRunner().invoke(cli, ["manifest", "check", "--json", "--online", "--manifest", str(MANIFEST_PATH)])
    assert result.exit_code == 2


def test_report_refuses_json_with_another_format(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--json", "--format", "html", "--instance", str(tmp_path / "i.json")])
    assert result.exit_code == 2
    assert "contradict" in result.output
