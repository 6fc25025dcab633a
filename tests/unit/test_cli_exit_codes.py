"""Exit codes come from one place (automation.cli): outcomes a command returns, and errors it raises."""

from __future__ import annotations

import sys

import pytest

import automation.cli as cli_module
from automation.cli import exit_code_for, exit_code_for_outcome
from automation.cli.common import Outcome
from automation.errors import (
    ApiError,
    AuthError,
    ConfigError,
    DatabaseError,
    EnvironmentProblem,
    EvidenceError,
    LoadError,
    LocalInstanceError,
    OsTicketUnavailable,
    ScenarioStepFailed,
    StepError,
    VerificationError,
)


def test_outcomes_and_errors_map_to_their_exit_codes() -> None:
    assert exit_code_for_outcome(None) == 0
    assert exit_code_for_outcome(Outcome.CHANGES_PENDING) == 3
    assert exit_code_for_outcome("anything else") == 0
    assert exit_code_for(ConfigError("x")) == 2
    assert exit_code_for(ApiError(400, "Unable to create ticket: email is required")) == 1  # osTicket refused
    assert exit_code_for(ApiError(500, "boom")) == 4  # osTicket broken
    assert exit_code_for(ApiError(0, "could not connect")) == 4  # osTicket unreachable


def _step_failed(cause: Exception) -> ScenarioStepFailed:
    try:
        raise ScenarioStepFailed(f"lab.yaml:12 step failed: {cause}") from cause
    except ScenarioStepFailed as exc:
        return exc


@pytest.mark.parametrize(("error", "code"), [
    (VerificationError("run x: 1 expectation(s) not met", ["lab.yaml:20: status is Open"]), 1),
    (StepError("setting status as jane: You do not have permission"), 1),
    (AuthError("agent 'jane' could not log in: Access denied"), 1),
    (LoadError("3 request(s) failed"), 1),
    (_step_failed(StepError("osTicket refused: Ticket is locked")), 1),
    (_step_failed(ApiError(400, "Valid email required")), 1),
    (ScenarioStepFailed("osTicket answered ticket number 123 but it is not in the database"), 1),
    (_step_failed(OsTicketUnavailable("POST http://x/scp/tickets.php: osTicket answered HTTP 502")), 4),
    (_step_failed(ApiError(0, "no answer within 30 s")), 4),
    (_step_failed(DatabaseError("(2003) Can't connect to MySQL server")), 4),
    (DatabaseError("(2003) Can't connect to MySQL server"), 4),
    (LocalInstanceError("the local osTicket is not running"), 4),
    (EnvironmentProblem("php-fpm8.2 not found"), 4),
    (EvidenceError("Chromium crashed"), 4),
])
def test_expectations_exit_1_and_environment_failures_exit_4(error: Exception, code: int) -> None:
    assert exit_code_for(error) == code


def test_the_exit_code_table_is_in_help_and_the_readme() -> None:
    from pathlib import Path

    from click.testing import CliRunner

    help_text = CliRunner().invoke(cli_module.cli, ["--help"]).output
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for code, meaning in cli_module.EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in help_text
        assert f"| {code} |" in readme, f"README misses exit code {code}"


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


@pytest.mark.parametrize("args", [
    ["seed", "{seed}"], ["seed", "{seed}", "--plan"], ["run", "{scenario}"], ["verify", "{scenario}"],
    ["report"], ["purge", "--run", "20261127150543-f51f", "--yes"],
])
def test_every_command_on_a_stopped_instance_exits_4(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys,
                                                      args: list[str]) -> None:
    from pathlib import Path

    from automation.cli import common

    def stopped(workspace: object) -> object:
        raise LocalInstanceError("the local osTicket is not running (mariadb stopped)")

    for module in ("automation.cli.common", "automation.cli.seed", "automation.cli.runs", "automation.cli.scenario"):
        monkeypatch.setattr(f"{module}.running_instance", stopped)
    assert common.running_instance is stopped
    lab = Path(__file__).parents[2] / "seed" / "scenarios" / "lab.yaml"
    seed = Path(__file__).parents[2] / "seed" / "helpdesk.yaml"
    argv = [a.format(seed=seed, scenario=lab) for a in args]
    assert run_main(monkeypatch, *argv, "--instance", str(tmp_path / "instance.json")) == 4
    assert "not running" in capsys.readouterr().err
