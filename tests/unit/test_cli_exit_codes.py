"""Exit codes come from one place (automation.cli): outcomes a command returns, and errors it raises."""

from __future__ import annotations

import sys

import pytest

import automation.cli as cli_module
from automation.cli import exit_code_for, exit_code_for_outcome
from automation.cli.common import Outcome
from automation.errors import ApiError, ConfigError


def test_outcomes_and_errors_map_to_their_exit_codes() -> None:
    assert exit_code_for_outcome(None) == 0
    assert exit_code_for_outcome(Outcome.CHANGES_PENDING) == 3
    assert exit_code_for_outcome("anything else") == 0
    assert exit_code_for(ConfigError("x")) == 2
    assert exit_code_for(ApiError(500, "boom")) == 1


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["ostops", *args])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    return int(stopped.value.code or 0)


def test_detailed_exitcode_needs_plan(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("slas: []\n")
    assert run_main(monkeypatch, "seed", str(seed), "--detailed-exitcode") == 2
    assert "--detailed-exitcode needs --plan" in capsys.readouterr().err


def test_a_command_returning_changes_pending_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import automation.cli.seed as seed_cli

    class FakePlan:
        create, update, unchanged, seconds = 1, 0, 2, 0.0

        def lines(self, verbose: bool) -> list[str]:
            return ["+ create sla 'New'"]

        def summary(self) -> str:
            return "1 to create, 0 to update, 2 unchanged"

    monkeypatch.setattr("automation.seeding.loader.load_seed", lambda path: object())
    monkeypatch.setattr(seed_cli, "running_instance", lambda workspace: object())
    monkeypatch.setattr("automation.seeding.apply.plan_against", lambda *a: FakePlan())
    seed = tmp_path / "seed.yaml"
    seed.write_text("slas: []\n")
    assert run_main(monkeypatch, "seed", str(seed), "--plan", "--detailed-exitcode") == 3
    assert run_main(monkeypatch, "seed", str(seed), "--plan") == 0
    FakePlan.create = 0
    assert run_main(monkeypatch, "seed", str(seed), "--plan", "--detailed-exitcode") == 0
