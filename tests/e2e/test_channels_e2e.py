"""Issue 15: tickets through the Support Center and by e-mail, the requester's status check and portal reply,
and the rehearsal time machine giving an SLA breach — on a real osTicket, proven from its database."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, RUN_MARK, RUN_TICKETS, ostops, query, run_arg

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


def run(osticket: Any, scenario: Path) -> str:
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


def tickets(osticket: Any, run_id: str) -> dict[str, dict[str, Any]]:
    rows = query(osticket, f"""
        SELECT t.ticket_id, t.number, t.source, t.isoverdue, t.created, t.est_duedate, cd.subject,
               TIMESTAMPDIFF(MINUTE, t.created, NOW()) AS age_min, {RUN_MARK} AS run_mark
        FROM ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id WHERE t.ticket_id IN {RUN_TICKETS}""",
                 [run_arg(run_id)])
    return {r["run_mark"].split(" ")[1]: r for r in rows}


def requester_entries(osticket: Any, ticket_id: int) -> list[str]:
    """How each of the requester's messages came: osTicket keeps a mail header row for each e-mail."""
    rows = query(osticket, """
        SELECT e.source, (SELECT COUNT(*) FROM ost_thread_entry_email m WHERE m.thread_entry_id = e.id) AS mails
        FROM ost_thread th JOIN ost_thread_entry e ON e.thread_id = th.id
        WHERE th.object_type = 'T' AND th.object_id = %s AND e.type = 'M' ORDER BY e.id""", [ticket_id])
    return ["e-mail" if r["mails"] and r["source"] == "Email" else "web" if not r["mails"] else "?" for r in rows]


def test_lab_tickets_arrive_by_portal_and_email_and_requesters_answer_the_same_way(osticket: Any) -> None:
    found = tickets(osticket, run(osticket, REPO / "seed" / "scenarios" / "lab.yaml"))
    assert {k: v["source"] for k, v in found.items()} == {
        "online-banking-down": "Web", "excel-wont-launch": "Web", "cfo-laptop-dead": "Email"}
    # The confirmation follows the channel: the Support Center's reply form, or an e-mail threaded by number.
    assert requester_entries(osticket, found["online-banking-down"]["ticket_id"]) == ["web", "web"]
    assert requester_entries(osticket, found["cfo-laptop-dead"]["ticket_id"]) == ["e-mail", "e-mail"]


def test_status_the_requester_sees_is_checked(osticket: Any, tmp_path: Path) -> None:
    scenario = tmp_path / "status.yaml"
    scenario.write_text(
        "name: status\nseed: " + str(REPO / "seed" / "helpdesk.yaml") + "\ntickets:\n"
        "  - key: seen\n    requester: {name: Ken Doe, email: ken.doe@example.com}\n    channel: portal\n"
        "    topic: Report a Problem\n    subject: Printer jams\n    message: Paper jams on every page.\n"
        "    steps:\n      - {as: requester, do: check_status, expect_status: Open}\n"
        "      - {as: requester, do: check_status, expect_status: Closed}\n"
        "review: {open_tickets: 1}\n")
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "requester check_status sees Open" in result.stdout + result.stderr
    assert f"{scenario}:12 ticket seen" in result.stderr
    assert "shows the requester status 'Open', expected 'Closed'" in result.stderr


def test_advance_makes_a_sev_a_ticket_overdue_and_the_report_shows_the_breach(osticket: Any, tmp_path: Path) -> None:
    run_id = run(osticket, REPO / "seed" / "scenarios" / "sla-breach.yaml")
    ticket = tickets(osticket, run_id)["payments-outage"]
    assert ticket["isoverdue"] == 1 and ticket["source"] == "Web"
    assert 119 <= ticket["age_min"] <= 125, ticket  # created two hours ago, as far as osTicket knows
    events = query(osticket, """
        SELECT ev.name, te.username FROM ost_thread th JOIN ost_thread_event te ON te.thread_id = th.id
        JOIN ost_event ev ON ev.id = te.event_id WHERE th.object_type = 'T' AND th.object_id = %s ORDER BY te.id""",
                   [ticket["ticket_id"]])
    assert [(e["name"], e["username"]) for e in events] == [("created", "SYSTEM"), ("overdue", "SYSTEM")]
    # Every timestamp moved alike: the first message is as old as the ticket.
    first = query(osticket, """SELECT MIN(e.created) AS first FROM ost_thread th JOIN ost_thread_entry e
                               ON e.thread_id = th.id WHERE th.object_type = 'T' AND th.object_id = %s""",
                  [ticket["ticket_id"]])[0]["first"]
    assert abs((first - ticket["created"]).total_seconds()) <= 1
    out = tmp_path / "report.json"
    result = ostops(osticket, "report", "--run", run_id, "--format", "json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert [t["sla_state"] for t in report["tickets"]] == ["breached"]
    assert report["by_agent"][0]["sla_breached"] == 1


def test_advance_touches_only_the_run_s_ticket(osticket: Any) -> None:
    before = {r["ticket_id"]: r["created"] for r in query(osticket, "SELECT ticket_id, created FROM ost_ticket")}
    run_id = run(osticket, REPO / "seed" / "scenarios" / "sla-breach.yaml")
    after = {r["ticket_id"]: r["created"] for r in query(osticket, "SELECT ticket_id, created FROM ost_ticket")}
    assert all(after[i] == created for i, created in before.items())
    assert tickets(osticket, run_id)["payments-outage"]["ticket_id"] not in before
