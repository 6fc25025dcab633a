"""Issue 4 acceptance: the reference lab acted out on a real osTicket and proven from its database."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from automation.credentials import agent_password
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.staff import StaffSession
from automation.workspace import Workspace
from tests.helpers.osticket import OSTOPS, REPO, ostops, query, staff_login

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
DATA = Path(__file__).parent / "data"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    """Every test here may run alone: the reference organization is seeded first (idempotent)."""
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


def run_lab(osticket: Any, tmp_path: Path) -> tuple[str, Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)  # output folders are never created by ostops
    junit, as_json = tmp_path / "out.xml", tmp_path / "run.json"
    result = ostops(osticket, "run", str(LAB), "--seed", "--junit", str(junit), "--json-file", str(as_json))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    return match.group(1), junit, as_json


def tickets_of(osticket: Any, run_id: str) -> dict[str, dict[str, Any]]:
    rows = query(osticket, """
        SELECT t.ticket_id, t.number, st.name AS status, sla.name AS sla, tm.name AS team, s.username AS agent,
               cd.subject
        FROM ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id
        JOIN ost_ticket_status st ON st.id = t.status_id LEFT JOIN ost_sla sla ON sla.id = t.sla_id
        LEFT JOIN ost_team tm ON tm.team_id = t.team_id LEFT JOIN ost_staff s ON s.staff_id = t.staff_id
        WHERE cd.subject LIKE %s""", [f"%[ostops {run_id} %"])
    return {re.search(r" (\S+)\]$", r["subject"]).group(1): r for r in rows}


def thread(osticket: Any, ticket_id: int) -> tuple[list[tuple[str, str]], list[str]]:
    entries = query(osticket, """
        SELECT e.type, COALESCE(s.username, 'requester') AS who FROM ost_thread th
        JOIN ost_thread_entry e ON e.thread_id = th.id LEFT JOIN ost_staff s ON s.staff_id = e.staff_id
        WHERE th.object_type = 'T' AND th.object_id = %s ORDER BY e.id""", [ticket_id])
    events = query(osticket, """
        SELECT ev.name FROM ost_thread th JOIN ost_thread_event te ON te.thread_id = th.id
        JOIN ost_event ev ON ev.id = te.event_id
        WHERE th.object_type = 'T' AND th.object_id = %s ORDER BY te.id""", [ticket_id])
    return [(e["type"], e["who"]) for e in entries], [e["name"] for e in events]


def test_lab_runs_and_the_database_shows_every_step(osticket: Any, tmp_path: Path) -> None:
    run_id, junit, as_json = run_lab(osticket, tmp_path)
    tickets = tickets_of(osticket, run_id)
    assert set(tickets) == {"online-banking-down", "excel-wont-launch", "cfo-laptop-dead"}

    banking = tickets["online-banking-down"]
    assert (banking["status"], banking["sla"], banking["team"]) == ("Closed", "Sev-A", "Online Banking")
    entries, events = thread(osticket, banking["ticket_id"])
    wanted = iter(events)
    assert all(name in wanted for name in ["created", "edited", "assigned", "closed"]), events
    assert ("N", "jane.doe") in entries and ("R", "jane.doe") in entries

    excel = tickets["excel-wont-launch"]
    assert (excel["status"], excel["sla"]) == ("Closed", "Sev-B")
    entries, _ = thread(osticket, excel["ticket_id"])
    reply_at = entries.index(("R", "john.doe"))
    assert ("M", "requester") in entries[reply_at + 1:], entries

    laptop = tickets["cfo-laptop-dead"]
    assert (laptop["status"], laptop["sla"]) == ("Closed", "Sev-B")
    for ticket in (excel, laptop):  # resolved, then closed: both status changes are in osTicket's history
        statuses = [row["data"] for row in query(osticket, """
            SELECT te.data FROM ost_thread th JOIN ost_thread_event te ON te.thread_id = th.id
            JOIN ost_event ev ON ev.id = te.event_id
            WHERE th.object_type = 'T' AND th.object_id = %s AND ev.name = 'closed' ORDER BY te.id""",
            [ticket["ticket_id"]])]
        assert [json.loads(d)["status"][1] for d in statuses] == ["Resolved", "Closed"], statuses

    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert int(suite.get("tests")) == 3 + 25 + 3 + 1  # creations, steps, ticket verifications, review
    record = json.loads(as_json.read_text())
    assert record["passed"] is True and record["run_id"] == run_id


def test_two_runs_on_one_instance_are_independent(osticket: Any, tmp_path: Path) -> None:
    first, _, _ = run_lab(osticket, tmp_path / "a")
    second, _, _ = run_lab(osticket, tmp_path / "b")
    assert first != second
    one, two = tickets_of(osticket, first), tickets_of(osticket, second)
    assert len(one) == len(two) == 3
    assert not {t["number"] for t in one.values()} & {t["number"] for t in two.values()}
    for run_id in (first, second):
        again = ostops(osticket, "verify", str(LAB), "--run", run_id)
        assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize(("column", "value", "field", "expected", "actual"), [
    ("sla_id", 1, "sla", "'Sev-A'", "'Default SLA'"),
    ("status_id", 2, "status", "'Closed'", "'Resolved'"),
])
def test_tampering_makes_verify_fail_with_details(osticket: Any, tmp_path: Path, column: str, value: int,
                                                  field: str, expected: str, actual: str) -> None:
    run_id, _, _ = run_lab(osticket, tmp_path)
    banking = tickets_of(osticket, run_id)["online-banking-down"]
    query(osticket, f"UPDATE ost_ticket SET {column} = %s WHERE ticket_id = %s", [value, banking["ticket_id"]])
    result = ostops(osticket, "verify", str(LAB), "--run", run_id)
    assert result.returncode == 1
    assert (f"ticket online-banking-down (#{banking['number']}): {field}: expected {expected}, actual {actual}"
            in result.stderr), result.stderr


def count_tickets(osticket: Any) -> int:
    return int(query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"])


def test_unknown_names_fail_before_anything_happens(osticket: Any, tmp_path: Path) -> None:
    text = LAB.read_text().replace("agent: jane.doe\n        comment", "agent: jane.doe2\n        comment", 1)
    text = text.replace("sla: Sev-B\n        comment: Several", "sla: Sev-Z\n        comment: Several", 1)
    text = text.replace("seed: ../helpdesk.yaml", f"seed: {REPO / 'seed' / 'helpdesk.yaml'}")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    before = count_tickets(osticket)
    result = ostops(osticket, "run", str(broken))
    assert result.returncode == 2, result.stderr
    lines = broken.read_text().splitlines()
    agent_line = lines.index("        agent: jane.doe2") + 1
    sla_line = lines.index("        sla: Sev-Z") + 1
    assert f"{broken}:{agent_line} tickets[0].steps[3].agent: unknown agent 'jane.doe2'" in result.stderr
    assert f"{broken}:{sla_line} tickets[1].steps[1].sla: unknown SLA 'Sev-Z'" in result.stderr
    assert count_tickets(osticket) == before


def test_step_without_permission_is_refused_before_any_ticket(osticket: Any, tmp_path: Path) -> None:
    seeded = ostops(osticket, "seed", str(DATA / "viewer-seed.yaml"))
    assert seeded.returncode == 0, seeded.stderr
    scenario = tmp_path / "forbidden.yaml"
    scenario.write_text("""\
name: forbidden
tickets:
  - key: viewer-tries
    requester: {name: Ken Doe, email: ken.doe@example.com}
    topic: Report a Problem
    subject: Printer offline
    message: The printer on floor 2 is offline.
    steps:
      - {as: john.doe, do: note, text: Looking into it.}
      - {as: vera.viewer, do: change_sla, sla: Sev-A}
""")
    junit = tmp_path / "out.xml"
    before = count_tickets(osticket)
    result = ostops(osticket, "run", str(scenario), "--junit", str(junit))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"{scenario}:10 tickets[0].steps[1].as: agent 'vera.viewer' may not change sla"
            in " ".join(result.stderr.split()))
    assert count_tickets(osticket) == before
    suite = ET.parse(junit).getroot()  # CI still gets its report: one errored case naming why
    assert suite.get("errors") == "1" and "1 problem with the agents" in junit.read_text()


def test_expired_session_logs_in_again_once(osticket: Any) -> None:
    inst = osticket.instance
    topic = query(osticket, "SELECT topic_id FROM ost_help_topic WHERE topic = 'Report a Problem'")[0]["topic_id"]
    number = TicketApi(inst.base_url, inst.api_key.get_secret_value()).create_ticket(NewTicket(
        name="Ken Doe", email="ken.doe@example.com", subject="Session check", message="VPN drops", topic_id=topic))
    ticket_id = query(osticket, "SELECT ticket_id FROM ost_ticket WHERE number = %s", [number])[0]["ticket_id"]
    password = agent_password(inst, Workspace(osticket.instance_path).credentials(), "john.doe")
    assert password
    staff = StaffSession(inst.base_url, "john.doe", password)
    staff.login()
    query(osticket, "DELETE FROM ost_session")  # every staff session expires at once
    staff.post_note(ticket_id, "Noted after the session expired.", "Session check")
    notes = query(osticket, """SELECT COUNT(*) AS n FROM ost_thread_entry e JOIN ost_thread th ON th.id = e.thread_id
                               WHERE th.object_type = 'T' AND th.object_id = %s AND e.title = 'Session check'
                               AND e.type = 'N'""", [ticket_id])
    assert notes[0]["n"] == 1


def test_wrong_password_is_a_clear_auth_error(osticket: Any) -> None:
    from automation.errors import AuthError

    staff = StaffSession(osticket.instance.base_url, "john.doe", "not-the-password")
    with pytest.raises(AuthError, match=r"agent 'john.doe' could not log in at .*scp/login.php: "):
        staff.login()


def test_report_formats(osticket: Any, tmp_path: Path) -> None:
    run_id, _, _ = run_lab(osticket, tmp_path)
    table = ostops(osticket, "report", "--run", run_id)
    assert table.returncode == 0, table.stderr
    assert "nothing left open" in table.stdout and "Sev-A" in table.stdout
    as_json = json.loads(ostops(osticket, "report", "--run", run_id, "--format", "json").stdout)
    assert as_json["open"] == 0
    assert as_json["by_status"] == {"Closed": 3}
    assert {t["sla_state"] for t in as_json["tickets"]} == {"met"}
    assert [t["key"] for t in as_json["tickets"]] == ["online-banking-down", "excel-wont-launch", "cfo-laptop-dead"]
    offset = query(osticket, "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW()) AS m")[0]["m"]
    label = f"UTC{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    assert as_json["timezone"]["utc_offset"] == label and as_json["timezone"]["clock"] == "database server"
    assert as_json["generated"].endswith(label[3:]) and all(t["due"].endswith(label[3:]) for t in as_json["tickets"])
    page = tmp_path / "review.html"
    assert ostops(osticket, "report", "--run", run_id, "--format", "html", "--output", str(page)).returncode == 0
    assert "<svg" in page.read_text() and "Nothing left open." in page.read_text()
    for t in as_json["tickets"]:
        link = f'<a href="{osticket.instance.base_url}scp/tickets.php?id={t["ticket_id"]}">#{t["number"]}</a>'
        assert link in page.read_text()
    first = as_json["tickets"][0]  # assigned to jane.doe
    jane = staff_login(osticket.instance.base_url, "jane.doe",
                       agent_password(osticket.instance, Workspace(osticket.instance_path).credentials(),
                                      "jane.doe") or "")
    ticket_page = jane.get(first["link"], timeout=30)
    assert ticket_page.status_code == 200 and f"Ticket #{first['number']}" in ticket_page.text


def test_every_action_the_runner_knows(osticket: Any, tmp_path: Path) -> None:
    junit = tmp_path / "out.xml"
    result = ostops(osticket, "run", str(DATA / "all-actions.yaml"), "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = RUN_ID.search(result.stdout).group(1)
    ticket = tickets_of(osticket, run_id)["every-action"]
    entries, events = thread(osticket, ticket["ticket_id"])
    assert [e for e in events if e != "referred"] == [
        "created", "transferred", "edited", "closed", "reopened", "assigned", "closed"]
    assert entries.count(("M", "requester")) == 2
    dept = query(osticket, "SELECT d.name FROM ost_ticket t JOIN ost_department d ON d.id = t.dept_id "
                           "WHERE t.ticket_id = %s", [ticket["ticket_id"]])
    assert dept == [{"name": "Online Banking"}]


def test_form_post_after_expiry_is_resent_with_the_new_token(osticket: Any) -> None:
    inst = osticket.instance
    number = TicketApi(inst.base_url, inst.api_key.get_secret_value()).create_ticket(NewTicket(
        name="Ken Doe", email="ken.doe@example.com", subject="Token check", message="Printer jam",
        topic_id=query(osticket, "SELECT topic_id FROM ost_help_topic WHERE topic = 'Report a Problem'")[0]["topic_id"]))
    ticket_id = query(osticket, "SELECT ticket_id FROM ost_ticket WHERE number = %s", [number])[0]["ticket_id"]
    staff = StaffSession(inst.base_url, "john.doe", agent_password(inst, Workspace(osticket.instance_path).credentials(), "john.doe") or "")
    staff.login()
    lock_code = staff._lock(ticket_id)
    old_token = staff._token
    query(osticket, "DELETE FROM ost_session")  # expires between the lock and the form post
    response = staff._call("POST", f"scp/tickets.php?id={ticket_id}", {
        "id": ticket_id, "lockCode": lock_code, "__CSRFToken__": old_token, "a": "postnote",
        "title": "Token check", "note": "Posted with a renewed session.", "note_status_id": ""}, ajax=False)
    assert response.status_code == 302
    assert staff._token != old_token
    notes = query(osticket, """SELECT COUNT(*) AS n FROM ost_thread_entry e JOIN ost_thread th ON th.id = e.thread_id
                               WHERE th.object_type = 'T' AND th.object_id = %s AND e.title = 'Token check'
                               AND e.type = 'N'""",
                  [ticket_id])
    assert notes[0]["n"] == 1


def test_failed_creation_is_a_failure_in_junit(osticket: Any, tmp_path: Path) -> None:
    from pydantic import SecretStr

    from automation.instance import Instance

    wrong = Instance.load(osticket.instance_path)
    wrong.api_key = SecretStr("0" * 32)
    wrong_path = tmp_path / "instance.json"
    wrong.save(wrong_path)
    shutil.copy2(osticket.instance_path.parent / "credentials.json", tmp_path / "credentials.json")
    junit = tmp_path / "out.xml"
    # A ticket the ticket API opens (the lab's first one comes through the Support Center, which needs no key).
    result = subprocess.run([OSTOPS, "run", str(DATA / "all-actions.yaml"), "--junit", str(junit), "--instance",
                             str(wrong_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "creating it failed" in result.stderr and "Valid API key required" in result.stderr
    suite = ET.parse(junit).getroot()
    # The creation is the one failure; every step it never reached and the ticket's verification are named as
    # skipped, not dropped; the final review still ran (nothing of the run is left open).
    assert suite.get("failures") == "1"
    cases = suite.findall(".//testcase")
    assert len(cases) == int(suite.get("tests") or 0) > 1
    assert sum(1 for c in cases if c.find("skipped") is not None) == len(cases) - 2
    review = [c for c in cases if c.get("name") == "final review"]
    assert review and len(review[0]) == 0


def test_an_output_file_that_cannot_be_written_is_refused_before_anything_runs(osticket: Any,
                                                                               tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    before = count_tickets(osticket)
    result = ostops(osticket, "run", str(LAB), "--junit", str(not_a_folder / "out.xml"))
    assert result.returncode == 2, result.stderr
    assert f"--junit {not_a_folder / 'out.xml'}: {not_a_folder} is not a folder" in " ".join(result.stderr.split())
    assert count_tickets(osticket) == before
    report = ostops(osticket, "report", "--format", "html", "--output", str(not_a_folder / "review.html"))
    assert report.returncode == 2
    assert "Traceback" not in report.stderr and "--output" in report.stderr


def test_verify_names_an_unknown_run_as_bad_input(osticket: Any) -> None:
    result = ostops(osticket, "verify", str(LAB), "--run", "20000101000000-dead")
    assert result.returncode == 2, result.stderr
    assert "run 20000101000000-dead: no tickets of this run in osTicket at " in result.stderr
    assert "recent runs recorded here" in result.stderr or "no runs are recorded here" in result.stderr


def test_verify_refuses_a_run_of_another_scenario(osticket: Any, tmp_path: Path) -> None:
    run_id, _, _ = run_lab(osticket, tmp_path)
    other = REPO / "tests" / "e2e" / "data" / "all-actions.yaml"
    result = ostops(osticket, "verify", str(other), "--run", run_id)
    assert result.returncode == 2, result.stderr  # the record names the scenario it acted out
    assert f"run {run_id} acted out {LAB}, not {other}" in " ".join(result.stderr.split())
