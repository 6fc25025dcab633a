"""`ostops purge`: idempotent (nothing left is exit 0, said so), --all-runs [--older-than], and its refusals."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

import automation.cli as cli_module
from automation.errors import DatabaseError
from automation.workspace import Workspace


class FakeInstance:
    base_url = "http://127.0.0.1:8080/"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, dict[str, list[object]]]:
    """A workspace with runs recorded; osTicket holds the tickets listed in the returned dict."""
    workspace = Workspace(tmp_path / "instance.json")
    in_osticket: dict[str, list[object]] = {}
    monkeypatch.setattr("automation.cli.runs.running_instance", lambda ws: FakeInstance())
    monkeypatch.setattr("automation.scenarios.purge.find_run_tickets", lambda inst, run: in_osticket.get(run, []))

    def purge_run(inst: object, run: str) -> list[object]:
        return in_osticket.pop(run, [])

    monkeypatch.setattr("automation.scenarios.purge.purge_run", purge_run)
    return workspace, in_osticket


def record(workspace: Workspace, run_id: str) -> None:
    workspace.runs_dir.mkdir(parents=True, exist_ok=True)
    workspace.run_file(run_id).write_text(json.dumps({"run_id": run_id, "kind": "scenario", "scenario": "lab.yaml",
                                                      "tickets": {}}), encoding="utf-8")


def run_id(days_ago: float, tail: str) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).strftime("%Y%m%d%H%M%S") + "-" + tail


def ostops(monkeypatch: pytest.MonkeyPatch, workspace: Workspace, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["ostops", *args, "--instance", str(workspace.instance_file)])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    return int(stopped.value.code or 0)


class Ticket:
    def __init__(self, number: str) -> None:
        self.number = number


def test_a_second_purge_of_the_same_run_is_success_saying_nothing_is_left(workspace, monkeypatch, capsys) -> None:
    ws, in_osticket = workspace
    run = run_id(0, "aaaa")
    record(ws, run)
    in_osticket[run] = [Ticket("100001"), Ticket("100002")]
    assert ostops(monkeypatch, ws, "purge", "--run", run, "--yes") == 0
    assert "2 ticket(s) deleted" in capsys.readouterr().out
    assert not ws.run_file(run).exists()
    assert ostops(monkeypatch, ws, "purge", "--run", run, "--yes") == 0  # was exit 2
    assert "no tickets left in osTicket at http://127.0.0.1:8080/; nothing to delete" in capsys.readouterr().out


def test_all_runs_older_than_keeps_the_recent_ones(workspace, monkeypatch, capsys) -> None:
    ws, in_osticket = workspace
    old, recent = run_id(10, "0001"), run_id(1, "0002")
    for run in (old, recent):
        record(ws, run)
        in_osticket[run] = [Ticket("1")]
    assert ostops(monkeypatch, ws, "purge", "--all-runs", "--older-than", "7d", "--yes") == 0
    assert "1 run(s) older than 7d purged: 1 ticket(s) deleted" in capsys.readouterr().out
    assert not ws.run_file(old).exists() and ws.run_file(recent).exists()
    assert set(in_osticket) == {recent}
    assert ostops(monkeypatch, ws, "purge", "--all-runs", "--older-than", "7d", "--yes") == 0
    assert "no runs older than 7d" in capsys.readouterr().out
    assert ostops(monkeypatch, ws, "purge", "--all-runs", "--yes") == 0
    assert not in_osticket and not ws.run_file(recent).exists()


@pytest.mark.parametrize(("args", "message"), [
    (["purge"], "give --run RUN_ID or --all-runs"),
    (["purge", "--run", "x-1", "--all-runs"], "contradict each other"),
    (["purge", "--run", "x-1", "--older-than", "7d"], "--older-than needs --all-runs"),
    (["purge", "--all-runs", "--older-than", "a week"], "--older-than 'a week': not an age"),
    (["purge", "--run", "../etc"], "not a run id"),
    (["purge", "--all-runs"], "standard input is not a terminal, so confirm with --yes"),
])
def test_purge_refuses_bad_input_with_exit_2(workspace, monkeypatch, capsys, args: list[str], message: str) -> None:
    ws, in_osticket = workspace
    run = run_id(0, "bbbb")
    record(ws, run)
    in_osticket[run] = [Ticket("7")]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert ostops(monkeypatch, ws, *args) == 2
    assert message in capsys.readouterr().err
    assert in_osticket[run] and ws.run_file(run).exists()


def test_purge_with_the_database_down_exits_4(workspace, monkeypatch) -> None:
    ws, _ = workspace

    def down(inst: object, run: str) -> list[object]:
        raise DatabaseError("cannot connect to osTicket's database at 127.0.0.1:3306: Connection refused")

    monkeypatch.setattr("automation.scenarios.purge.find_run_tickets", down)
    assert ostops(monkeypatch, ws, "purge", "--run", run_id(0, "cccc"), "--yes") == 4


def test_verify_refuses_a_run_of_another_scenario(workspace, monkeypatch, capsys) -> None:
    ws, _ = workspace
    repo = Path(__file__).parents[2]
    lab, other = repo / "seed" / "scenarios" / "lab.yaml", repo / "tests" / "e2e" / "data" / "all-actions.yaml"
    run = run_id(0, "dddd")
    ws.runs_dir.mkdir(parents=True, exist_ok=True)
    ws.run_file(run).write_text(json.dumps({"run_id": run, "kind": "scenario", "scenario": str(lab),
                                            "tickets": {}}), encoding="utf-8")
    monkeypatch.setattr("automation.cli.scenario.running_instance", lambda ws: FakeInstance())
    verified: list[str] = []
    monkeypatch.setattr("automation.scenarios.verify.verify_past_run", lambda *a, **k: verified.append("x"))
    assert ostops(monkeypatch, ws, "verify", str(other), "--run", run) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"run {run} acted out {lab}, not {other}" in err
    assert f"ostops verify {lab} --run {run}" in err
    assert not verified
