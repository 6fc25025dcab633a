"""Issue 19: the final review marks the tickets a run was never answered for (osTicket holds them in the run's
id range: a server killed or frozen mid-request) and claims no SLA outcome for them; a ticket with an SLA but
no due time is not called "no SLA"."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

from rich.console import Console

from automation.cli.scenario import _print_report
from automation.scenarios.facts import Event
from automation.scenarios.report import build_report
from automation.scenarios.review_html import render_html
from tests.unit.test_scenarios import T0, facts

NOW = T0 + dt.timedelta(hours=5)


def _report():  # type: ignore[no-untyped-def]
    confirmed = facts(ticket_id=1, number="111111", key="load-1", sla="Default SLA", status="Open", state="open",
                      closed=None, events=[Event("created", "SYSTEM", T0, None)], due=T0 + dt.timedelta(hours=1))  # breached: open past its due time
    # osTicket holds it whole, but the run's request never got an answer: breached too, if it were judged
    lost = facts(ticket_id=2, number="222222", key="load-2", sla="Default SLA", status="Open", state="open",
                 closed=None, events=[Event("created", "SYSTEM", T0, None)], due=T0 + dt.timedelta(hours=1))
    lost_no_due = facts(ticket_id=3, number="333333", key="load-3", sla="Default SLA", due=None)
    half = facts(ticket_id=4, number="444444", key="", subject=None, status=None, state=None, sla=None, due=None,
                 entries=[], events=[], history=[], has_thread=False)
    no_due = facts(ticket_id=5, number="555555", key="load-5", sla="Default SLA", due=None)
    return build_report("r1", [confirmed, lost, lost_no_due, half, no_due], NOW,
                        confirmed={"111111", "555555"})


def test_unconfirmed_tickets_are_marked_and_get_no_sla_outcome() -> None:
    rows = {row.number: row for row in _report().tickets}
    assert rows["111111"].sla_state == "breached" and rows["111111"].confirmed
    assert (rows["222222"].sla_state, rows["222222"].confirmed) == ("unconfirmed", False)
    assert (rows["333333"].sla_state, rows["333333"].confirmed) == ("unconfirmed", False)
    assert (rows["444444"].sla_state, rows["444444"].confirmed) == ("incomplete", False)
    assert rows["222222"].label == "load-2 (unconfirmed)"


def test_a_ticket_with_an_sla_and_no_due_time_is_not_called_no_sla() -> None:
    rows = {row.number: row for row in _report().tickets}
    assert rows["555555"].sla_state == "no due date"


def test_groups_count_only_confirmed_outcomes() -> None:
    by_agent = {g.name: g for g in _report().by_agent}
    assert by_agent["jane.doe"].sla_breached == 1  # not 2: the unconfirmed twin is not judged


def test_every_format_says_which_tickets_are_unconfirmed() -> None:
    report = _report()
    document = report.to_dict()
    assert document["unconfirmed"] == 3
    assert {t["number"]: t["confirmed"] for t in document["tickets"]} == {
        "111111": True, "222222": False, "333333": False, "444444": False, "555555": True}
    json.dumps(document, default=str)
    buffer = io.StringIO()
    _print_report(report, Console(file=buffer, width=220))
    text = buffer.getvalue()
    assert re.search(r"load-2 \(unconfirmed\) +│ #222222 .*│ unconfirmed", text), text
    assert "3 ticket(s) unconfirmed - osTicket holds them, the run was never answered for them, so no SLA " \
           "outcome is given: #222222, #333333, #444444" in " ".join(text.split())
    page = render_html(report)
    assert "<td>load-2 (unconfirmed)</td>" in page
    assert "3 ticket(s) unconfirmed" in page


def test_without_a_record_every_ticket_is_taken_as_the_run_s() -> None:
    report = build_report("r1", [facts(number="222222", key="load-2", status="Open", state="open", closed=None,
                                       events=[Event("created", "SYSTEM", T0, None)], due=T0 + dt.timedelta(hours=1))], NOW)
    assert report.tickets[0].confirmed and report.tickets[0].sla_state == "breached"
