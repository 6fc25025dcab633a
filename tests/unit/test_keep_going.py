"""Issue 23: a step osTicket refuses fails its ticket, not the run. Its later steps are skipped with why, the
other tickets are acted out and verified, the final review runs; the record makes a later `verify` report the
same failures. osTicket or the environment failing still stops the run, every step it never reached named; a
signal still stops it; `--stop-on-failure` stops at the first failure."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from automation.errors import (
    ApiError,
    DatabaseError,
    Interrupted,
    ScenarioStepFailed,
    StepError,
    is_environment_failure,
)
from automation.scenarios.junit import junit_xml
from automation.scenarios.loader import LoadedScenario, load_scenario
from automation.scenarios.record import RunResult, load_record
from automation.scenarios.verify import verify
from tests.helpers.acting import NOW, Acting
from tests.helpers.acting import acting as in_memory

REFUSED = "osTicket refused the form: Status « Closed » needs the ticket's thread to be answered"


def scenario(folder: Path) -> LoadedScenario:
    """Three tickets of three steps each; text as people write it."""
    tickets = "\n".join(f"""  - key: pump-{i}
    requester: {{name: "Zoë \\"Zo\\" Ångström-Núñez", email: zoe.{i}@example.com}}
    subject: "Pumps on 4B show \\"drug library missing\\" & alarm — café {i}"
    message: "Ré-essayé {i}: \\"v2.1\\" & <= v2.0."
    steps:
      - {{as: john.doe, do: note, title: "Triage \\"pumps\\" & co", text: "Checked {i}: \\"v2.1\\" & à revoir."}}
      - {{id: close-it, as: john.doe, do: set_status, status: Closed}}
      - {{as: john.doe, do: note, text: "Closed {i} & told the ward."}}
    expect: {{status: Closed}}""" for i in range(3))
    path = folder / "ward.yaml"
    path.write_text(f"name: 'Ward 4B \"pumps\" & co'\ntickets:\n{tickets}\n", encoding="utf-8")
    return load_scenario(path)


def refuse() -> None:
    raise StepError(REFUSED)


def test_a_refused_step_fails_its_ticket_and_the_run_goes_on_to_its_verdict(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)
    fake.on_step[("pump-0", 2)] = refuse  # the first ticket's close is refused
    result = fake.runner.run(loaded)

    assert fake.created == 3 and fake.steps == [101, 101, 102, 102, 102, 103, 103, 103]
    assert [(s.ticket, s.name, bool(s.error)) for s in result.steps if s.ticket == "pump-0"] == [
        ("pump-0", "pump-0 / requester create", False), ("pump-0", "pump-0 / john.doe note", False),
        ("pump-0", "pump-0 / close-it", True)]
    failed_at = loaded.step_where(0, 1)
    assert [(s.name, s.reason) for s in result.skipped] == [
        ("pump-0 / john.doe note #2", f"not run: step 'close-it' of this ticket failed before it ({failed_at})")]
    assert result.stopped == ""
    # The verdict: the failed ticket's one failure is its step; the others are verified; the review ran and
    # holds (the failed ticket, left open by the steps it never took, is not counted against it).
    assert result.verdict is not None
    assert [(t.key, t.passed, bool(t.failed)) for t in result.verdict.tickets] == [
        ("pump-0", False, True), ("pump-1", True, False), ("pump-2", True, False)]
    assert result.verdict.review == []
    assert result.verdict.mismatches() == [
        (f"ticket pump-0 (#000001): {failed_at} step 'close-it' failed in the run: {REFUSED}; the ticket's "
        "expectations were not checked")]
    assert not result.passed


def test_every_ticket_is_in_the_junit_and_the_json_with_its_outcome(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)
    fake.on_step[("pump-0", 2)] = refuse
    result = fake.runner.run(loaded)

    suite = ET.fromstring(junit_xml(result, loaded))
    outcome = {c.get("name"): next((child.tag for child in c if child.tag != "system-out"), "passed")
               for c in suite.iter("testcase")}
    assert outcome == {
        "pump-0 / requester create": "passed", "pump-0 / john.doe note": "passed", "pump-0 / close-it": "failure",
        "pump-0 / john.doe note #2": "skipped", "pump-0 / verified in database": "skipped",
        **{f"pump-{i} / {name}": "passed" for i in (1, 2)
           for name in ("requester create", "john.doe note", "close-it", "john.doe note #2", "verified in database")},
        "final review": "passed"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("16", "1", "0",
                                                                                                        "2")
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "pump-0 / close-it").find("failure")
    assert failure is not None and failure.get("message") == f"{loaded.step_where(0, 1)}: {REFUSED}"

    document = json.loads(json.dumps(result.to_json(), default=str))
    assert document["passed"] is False and document["stopped"] is None
    assert [(s["key"], s["state"], s["steps_done"]) for s in document["ticket_states"]] == [
        ("pump-0", "failed at a step", 1), ("pump-1", "confirmed", 3), ("pump-2", "confirmed", 3)]
    assert [(t["key"], t["passed"], bool(t["failed"])) for t in document["verification"]["tickets"]] == [
        ("pump-0", False, True), ("pump-1", True, False), ("pump-2", True, False)]
    assert [s["name"] for s in document["skipped_steps"]] == ["pump-0 / john.doe note #2"]


def test_a_later_verify_of_the_record_reports_the_same_failures(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)
    fake.on_step[("pump-0", 2)] = refuse
    fake.on_step[("pump-2", 1)] = refuse
    result = fake.runner.run(loaded)
    assert result.verdict is not None and len(result.verdict.mismatches()) == 2

    record = load_record(fake.workspace, result.run_id)
    assert record is not None and sorted(record.failed) == ["pump-0", "pump-2"]
    later = verify(loaded.scenario, result.run_id, fake.facts(), NOW, set(record.ticket_ids.values()), record.ledger,
                   {}, None, record.failed)
    assert later.mismatches() == result.verdict.mismatches()
    # Without what the record says, the failed tickets' own expectations would fail anew: new failures.
    assert verify(loaded.scenario, result.run_id, fake.facts(), NOW, set(record.ticket_ids.values()),
                  record.ledger, {}).mismatches() != result.verdict.mismatches()


def test_a_refused_creation_fails_its_ticket_and_skips_all_its_steps(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)
    fake.on_create[0] = lambda: (_ for _ in ()).throw(ApiError(400, "Valid email address required"))
    result = fake.runner.run(loaded)
    assert fake.created == 2 and sorted(result.tickets) == ["pump-1", "pump-2"]
    assert [s.name for s in result.skipped] == ["pump-0 / john.doe note", "pump-0 / close-it",
                                                "pump-0 / john.doe note #2"]
    assert result.verdict is not None and result.verdict.tickets[0].failed.endswith(
        "step 'requester create' failed in the run: osTicket answered HTTP 400: Valid email address required; "
        "the ticket's expectations were not checked")
    assert result.verdict.tickets[0].number is None


@pytest.mark.parametrize("failure", [
    DatabaseError("Lost connection to MySQL server during query"), ApiError(503, "Service Unavailable")],
    ids=["database", "http-503"])
def test_the_environment_failing_stops_the_run_and_names_every_step_not_reached(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failure: Exception) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)

    def down() -> None:
        raise failure

    fake.on_step[("pump-0", 2)] = down
    with pytest.raises(ScenarioStepFailed) as info:
        fake.runner.run(loaded)
    assert is_environment_failure(info.value)  # exit 4
    assert fake.created == 1
    result = info.value.result
    assert isinstance(result, RunResult) and result.verdict is None
    assert "osTicket or its environment failed at 'pump-0 / close-it'" in result.stopped
    assert [s.name for s in result.skipped] == ["pump-0 / john.doe note #2"] + [
        f"pump-{i} / {name}" for i in (1, 2) for name in ("requester create", "john.doe note", "close-it",
                                                          "john.doe note #2")]
    assert {s.reason for s in result.skipped if s.ticket != "pump-0"} == {result.stopped}
    suite = ET.fromstring(junit_xml(result, loaded))
    step = next(c for c in suite.iter("testcase") if c.get("name") == "pump-0 / close-it")
    error = step.find("error")
    assert error is not None and error.get("type") == "environment"
    skipped = {c.get("name"): c.find("skipped") for c in suite.iter("testcase") if c.find("skipped") is not None}
    assert {"pump-1 / requester create", "pump-2 / verified in database", "final review"} <= set(skipped)
    assert skipped["pump-2 / requester create"].get("message") == result.stopped  # type: ignore[union-attr]
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0")
    assert fake.record()["stopped"] == result.stopped


def test_stop_on_failure_stops_at_the_first_refused_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path, keep_going=False)
    loaded = scenario(tmp_path)
    fake.on_step[("pump-0", 2)] = refuse
    with pytest.raises(ScenarioStepFailed) as info:
        fake.runner.run(loaded)
    assert not is_environment_failure(info.value)  # exit 1
    assert fake.created == 1
    result: Any = info.value.result
    assert result.stopped.endswith(f"'pump-0 / close-it' ({loaded.step_where(0, 1)}): --stop-on-failure")
    assert len(result.skipped) == 1 + 2 * 4


def test_a_signal_during_a_refused_step_still_stops_a_keep_going_run(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    fake = in_memory(monkeypatch, tmp_path)
    loaded = scenario(tmp_path)

    def signalled_then_refused() -> None:
        fake.runner.interruptions.handle(signal.SIGTERM)
        refuse()

    fake.on_step[("pump-0", 2)] = signalled_then_refused
    with pytest.raises(Interrupted) as info:
        fake.runner.run(loaded)
    assert fake.created == 1
    result: Any = info.value.result
    assert result.interrupted == "SIGTERM" and result.verdict is None
    assert {s.reason for s in result.skipped if s.ticket != "pump-0"} == {
        "not reached: the run was interrupted by SIGTERM"}
    assert fake.record()["interrupted"] is True


def test_the_acting_fake_acts_like_a_help_desk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fake's facts hold the scenario to its expectations: a run without failures passes."""
    fake: Acting = in_memory(monkeypatch, tmp_path)
    result = fake.runner.run(scenario(tmp_path))
    assert result.passed and result.skipped == [] and result.verdict is not None and result.verdict.review == []


def test_a_record_written_before_steps_had_names_still_says_which_ticket_failed(tmp_path: Path) -> None:
    from automation.scenarios.record import save_record
    from automation.workspace import Workspace

    workspace = Workspace(tmp_path / "instance.json")
    save_record(workspace, "20261201000000-abcd", {"steps": [
        {"ticket": "a", "where": "s.yaml:3", "actor": "Zoë", "action": "create", "detail": "#1", "seconds": 0.1},
        {"ticket": "a", "where": "s.yaml:7", "actor": "john.doe", "action": "note", "error": "Permission denied"},
        "not a step", {"error": ""}]})
    record = load_record(workspace, "20261201000000-abcd")
    assert record is not None and record.failed == {
        "a": "s.yaml:7 step 'john.doe note' failed in the run: Permission denied; the ticket's expectations were not "
             "checked"}
