"""JUnit names stay the same from run to run; failed expectations carry the scenario's file:line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from automation.scenarios.junit import junit_error_xml, junit_xml
from automation.scenarios.loader import load_scenario
from automation.scenarios.record import RunResult, StepResult
from automation.scenarios.verify import TicketVerdict, Verdict

LAB = Path(__file__).resolve().parents[2] / "seed" / "scenarios" / "lab.yaml"


def a_run(run_id: str, number: str, mismatches: list[str]) -> RunResult:
    loaded = load_scenario(LAB)
    key = loaded.scenario.tickets[0].key
    steps = [StepResult(key, f"{LAB}:10", "Karen Doe", "create", f"#{number} Banking is down", 0.1),
             StepResult(key, f"{LAB}:14", "john.doe", "change_sla", "to Sev-A", 0.1, number=1)]
    verdict = Verdict(run_id, [TicketVerdict(key, number, mismatches)], [])
    return RunResult(run_id, str(LAB), steps=steps, verdict=verdict)


def names(xml: str) -> list[str]:
    return [case.get("name", "") for case in ET.fromstring(xml).iter("testcase")]


def test_names_are_the_same_in_two_runs_and_hold_no_ticket_number() -> None:
    loaded = load_scenario(LAB)
    first = junit_xml(a_run("20260101000000-aaaa", "111111", []), loaded)
    second = junit_xml(a_run("20260102000000-bbbb", "222222", []), loaded)
    key = loaded.scenario.tickets[0].key
    assert names(first) == names(second) == [f"{key} / requester create", f"{key} / john.doe change_sla",
                                             f"{key} / verified in database", "final review"]
    assert "111111" not in "".join(names(first))


def test_a_failed_expectation_names_the_scenario_s_file_and_line() -> None:
    loaded = load_scenario(LAB)
    xml = junit_xml(a_run("r", "1", ["status: expected 'Closed', actual 'Open'"]), loaded)
    failure = ET.fromstring(xml).find("testcase/failure")
    assert failure is not None
    line = loaded.located.line(("tickets", 0, "expect"))
    assert failure.get("message") == f"{LAB}:{line} tickets[0].expect: status: expected 'Closed', actual 'Open'"
    assert line > 1


def test_a_run_that_never_started_is_one_errored_case() -> None:
    suite = ET.fromstring(junit_error_xml("lab", "cannot connect to osTicket's database"))
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert suite.find("testcase/error").get("message") == "cannot connect to osTicket's database"


def test_a_junit_file_is_written_when_osticket_cannot_be_reached(tmp_path: Path) -> None:
    import subprocess

    from pydantic import SecretStr

    from automation.instance import DatabaseAccess, Instance, Login
    from tests.helpers.osticket import OSTOPS, REPO

    instance = tmp_path / "instance.json"
    Instance(kind="azure", url="http://127.0.0.1:9", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
             admin=Login(username="a", password=SecretStr("b")),
             db=DatabaseAccess(host="127.0.0.1", port=9, name="x", user="x", password=SecretStr("c"))).save(instance)
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([OSTOPS, "run", str(LAB), "--junit", str(junit), "--instance", str(instance)],
                          capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert proc.returncode == 4, proc.stderr
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert "cannot connect to osTicket's database" in suite.find("testcase/error").get("message")


def test_an_interrupted_run_names_every_ticket_and_skips_the_steps_it_never_reached() -> None:
    loaded = load_scenario(LAB)
    first, second = loaded.scenario.tickets[0], loaded.scenario.tickets[1]
    steps = [StepResult(first.key, f"{LAB}:10", first.requester.name, "create", "#111111", 0.1),
             StepResult(first.key, f"{LAB}:14", "john.doe", "change_sla", "to Sev-A", 0.1, number=1)]
    result = RunResult("r", str(LAB), steps=steps, tickets={first.key: {"number": "111111", "ticket_id": 7}},
                       plan={t.key: len(t.steps) for t in loaded.scenario.tickets}, interrupted="SIGTERM")
    suite = ET.fromstring(junit_xml(result, loaded))
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "interrupted"
    assert (error.text or "").splitlines() == [
        f"ticket {first.key}: confirmed #111111 (id 7), 1 of {len(first.steps)} steps done",
        *[f"ticket {t.key}: not created, 0 of {len(t.steps)} steps done" for t in loaded.scenario.tickets[1:]]]
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    planned = sum(len(t.steps) + 1 for t in loaded.scenario.tickets)
    # Every step never reached, every ticket's verification and the review: skipped, with the signal.
    verifications = len(loaded.scenario.tickets) + 1
    assert len(skipped) == planned - 2 + verifications
    assert f"{first.key} / {first.steps[1].actor} {first.steps[1].do}" in skipped
    assert f"{second.key} / requester create" in skipped
    assert f"{second.key} / verified in database" in skipped and "final review" in skipped
    assert {c.find("skipped").get("message") for c in suite.iter("testcase") if c.find("skipped") is not None} == {
        "not reached: the run was interrupted by SIGTERM"}
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped"), suite.get("failures")) == (
        str(planned + verifications + 1), "1", str(planned - 2 + verifications), "0")
