"""Issue 19: the run record is usable whenever the run stops. Its id range grows as each ticket is created and
is open while a creation is unanswered; a signal lets the request in flight finish, then the record says
interrupted and names every ticket with its state."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from automation.errors import ApiError, DatabaseError, Interrupted, ScenarioStepFailed
from automation.scenarios import runner as runner_module
from automation.scenarios.loader import load_scenario
from automation.scenarios.record import RunResult, load_record, save, save_record
from automation.workspace import Workspace
from tests.helpers.acting import BEFORE, Acting
from tests.helpers.acting import acting as in_memory


def scenario(folder: Path) -> Path:
    tickets = "\n".join(f"""  - key: t{i}
    requester: {{name: "Zoë \\"Zo\\" Núñez & < Co", email: zoe@example.com}}
    subject: "Pump {i} shows \\"library missing\\" & < 4B"
    message: "Ré-essayé {i}: \\"v2.1\\" & <= v2.0."
    steps:
      - as: john.doe
        do: note
        text: Checked {i}.""" for i in range(3))
    path = folder / "three.yaml"
    path.write_text(f"name: three\ntickets:\n{tickets}\n", encoding="utf-8")
    return path


@pytest.fixture
def acting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Acting:
    return in_memory(monkeypatch, tmp_path)


def stop_at_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the database does not answer (MariaDB killed): reconciliation cannot close the range."""
    def gone(conn: Any, tables: Any) -> int:
        raise DatabaseError("Lost connection to MySQL server during query")

    monkeypatch.setattr(runner_module.db, "last_ticket_id", gone)


def test_the_range_grows_with_each_ticket_and_is_open_while_a_creation_is_unanswered(
        acting: Acting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def api_fails() -> None:
        stop_at_the_database(monkeypatch)
        raise ApiError(502, "Bad Gateway")

    acting.on_create[2] = api_fails
    with pytest.raises(ScenarioStepFailed) as info:
        acting.runner.run(load_scenario(scenario(tmp_path)))
    assert [(r["id_range"], r["id_range_open"], sorted(r["tickets"])) for r in acting.seen] == [
        ([100, 100], True, []), ([100, 101], True, ["t0"]), ([100, 102], True, ["t0", "t1"])]
    record = acting.record()
    assert (record["id_range"], record["id_range_open"]) == ([100, 102], True)
    assert "not reconciled" in record["unconfirmed"][0]
    # Read back: up to the newest ticket, so that `report --run` and `verify --run` find the third one too.
    loaded = load_record(acting.workspace, record["run_id"])
    assert loaded is not None and loaded.id_range == (100, None) and loaded.ticket_ids == {"t0": 101, "t1": 102}
    assert isinstance(info.value.result, RunResult)
    assert [s.line() for s in info.value.result.ticket_states()] == [
        "ticket t0: confirmed #000001 (id 101), 1 of 1 steps done",
        "ticket t1: confirmed #000002 (id 102), 1 of 1 steps done",
        "ticket t2: creation failed (it may exist: see unconfirmed), 0 of 1 steps done"]


def test_a_ticket_osticket_answered_for_but_whose_id_was_never_read_is_named_by_its_number(
        acting: Acting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def database_gone(number: str) -> int:
        if number == "000002":
            stop_at_the_database(monkeypatch)
            raise DatabaseError("Lost connection to MySQL server during query")
        return BEFORE + int(number)

    monkeypatch.setattr(acting.runner, "_ticket_id", database_gone)
    with pytest.raises(ScenarioStepFailed) as info:
        acting.runner.run(load_scenario(scenario(tmp_path)))
    assert "t1 (#000002): created, but its id could not be read" in str(info.value)
    record = acting.record()
    assert (record["id_range"], record["id_range_open"]) == ([100, 101], True)
    assert [(s["key"], s["state"], s["number"]) for s in record["ticket_states"]] == [
        ("t0", "confirmed", "000001"), ("t1", "created, not confirmed", "000002"), ("t2", "not created", "")]


def test_a_signal_during_a_creation_lets_it_finish_then_records_the_run_as_interrupted(
        acting: Acting, tmp_path: Path) -> None:
    acting.on_create[1] = lambda: acting.runner.interruptions.handle(signal.SIGTERM)
    with pytest.raises(Interrupted) as info:
        acting.runner.run(load_scenario(scenario(tmp_path)))
    assert acting.created == 2 and acting.steps == [101]  # t1 was created and confirmed, its note never sent
    record = acting.record()
    assert (record["interrupted"], record["signal"], record["passed"]) == (True, "SIGTERM", False)
    assert (record["id_range"], record["id_range_open"], record["unconfirmed"]) == ([100, 102], False, [])
    assert [(s["key"], s["state"], s["steps_done"]) for s in record["ticket_states"]] == [
        ("t0", "confirmed", 1), ("t1", "confirmed", 0), ("t2", "not created", 0)]
    assert isinstance(info.value.result, RunResult) and info.value.result.interrupted == "SIGTERM"


def test_a_second_signal_cuts_the_creation_off_and_leaves_the_range_open(acting: Acting, tmp_path: Path) -> None:
    def twice() -> None:
        acting.runner.interruptions.handle(signal.SIGINT)
        acting.runner.interruptions.handle(signal.SIGINT)

    acting.on_create[1] = twice
    with pytest.raises(Interrupted):
        acting.runner.run(load_scenario(scenario(tmp_path)))
    record = acting.record()
    assert (record["id_range"], record["id_range_open"], record["signal"]) == ([100, 101], True, "SIGINT")
    assert record["steps"][-1]["error"].startswith("cut off by SIGINT before osTicket answered")
    assert "`ostops report --run" in record["unconfirmed"][0]
    loaded = load_record(acting.workspace, record["run_id"])
    assert loaded is not None and loaded.id_range == (100, None)


def test_a_record_written_before_ranges_grew_reaches_its_own_tickets(tmp_path: Path) -> None:
    """Records of interrupted runs written by earlier versions: range [324, 324], tickets 325 and 326."""
    workspace = Workspace(tmp_path / "instance.json")
    save_record(workspace, "20261201000000-abcd", {"id_range": [324, 324], "tickets": {
        "a": {"number": "111111", "ticket_id": 325}, "b": {"number": "222222", "ticket_id": 326}}})
    record = load_record(workspace, "20261201000000-abcd")
    assert record is not None and record.id_range == (324, 326)


def test_an_interrupted_run_is_listed_as_interrupted(tmp_path: Path) -> None:
    from automation.scenarios.record import run_summaries

    workspace = Workspace(tmp_path / "instance.json")
    save(workspace, RunResult("20261201000000-abcd", "s.yaml", interrupted="SIGTERM"))
    assert [r.verdict for r in run_summaries(workspace)] == ["interrupted"]
