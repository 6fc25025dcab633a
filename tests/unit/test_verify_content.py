"""Issue 14: verification compares what the run posted (bodies, titles, the subject) and reports half-written
tickets instead of failing on them."""

import dataclasses
import datetime as dt
from pathlib import Path

from automation.scenarios.facts import Entry, Event, TicketFacts
from automation.scenarios.loader import load_scenario
from automation.scenarios.report import build_report
from automation.scenarios.review_html import render_html
from automation.scenarios.verify import posted_entries, verify

REPO = Path(__file__).resolve().parents[2]
LAB = load_scenario(REPO / "seed" / "scenarios" / "lab.yaml").scenario
T0 = dt.datetime(2026, 11, 27, 10, 0, 0)


def lab_facts(**overrides):
    spec = LAB.tickets[0]
    base = dict(
        ticket_id=1, number="123456", key=spec.key, subject=spec.subject, status="Closed", state="closed",
        sla="Sev-A", department="IT Support", agent="jane.doe", team="Online Banking", topic="Report a Problem",
        priority="Emergency", requester="Karen Doe", requester_email="karen.doe@example.com", overdue=False,
        created=T0, closed=T0 + dt.timedelta(minutes=30), due=T0 + dt.timedelta(hours=1), source="Web",
        entries=[Entry(p.type, p.by, T0 + dt.timedelta(minutes=i), i + 1, p.title, p.text)
                 for i, p in enumerate(posted_entries(spec))],
        events=[Event(n, "x", T0, None, i) for i, n in enumerate(["created", "edited", "assigned", "closed"])],
    )
    base.update(overrides)
    facts = TicketFacts(**base)
    facts.history = list(facts.events)
    return facts


def scenario():
    """The lab's first ticket without its mail expectations (tests/unit/test_mail.py checks those)."""
    first = LAB.tickets[0]
    return LAB.model_copy(update={"tickets": [first.model_copy(update={
        "expect": first.expect.model_copy(update={"mail": []})})]})


def test_the_lab_ticket_as_posted_passes():
    verdict = verify(scenario(), "r1", [lab_facts()], T0 + dt.timedelta(hours=2))
    assert verdict.passed, verdict.mismatches()


def test_posted_entries_cover_messages_notes_replies_and_comments():
    kinds = [(p.type, p.by, p.title) for p in posted_entries(LAB.tickets[0])]
    assert kinds == [("M", "requester", ""), ("N", "john.doe", ""), ("N", "john.doe", ""), ("N", "john.doe", ""), ("N", "john.doe", ""),
                     ("N", "jane.doe", "Investigation"), ("R", "jane.doe", ""), ("N", "jane.doe", ""),
                     ("M", "requester", ""), ("N", "jane.doe", "")]


def test_a_rewritten_note_body_is_named_with_what_is_there():
    facts = lab_facts()
    note = next(e for e in facts.entries if e.title == "Investigation")
    note.text = "Nothing was wrong."
    problems = verify(scenario(), "r1", [facts], T0).mismatches()
    assert len(problems) == 1
    assert problems[0].startswith("ticket online-banking-down (#123456): note by jane.doe 'Investigation' "
                                  "\"Reproduced: the portal returns 502")
    assert f"#{note.id} Investigation: 'Nothing was wrong.'" in problems[0]


def test_a_deleted_note_is_not_hidden_by_another_note_of_the_same_agent():
    facts = lab_facts()
    facts.entries = [e for e in facts.entries if e.title != "Investigation"]
    assert any(e.type == "N" and e.by == "jane.doe" for e in facts.entries)
    problems = verify(scenario(), "r1", [facts], T0).mismatches()
    assert any("note by jane.doe 'Investigation'" in p and "not in osTicket" in p for p in problems), problems


def test_a_changed_subject_is_named():
    problems = verify(scenario(), "r1", [lab_facts(subject="Partial outage")], T0).mismatches()
    assert problems == [("ticket online-banking-down (#123456): subject: expected "
                        "'Entire mobile/online banking system is down', actual 'Partial outage'")]


def test_entries_out_of_order_are_named():
    facts = lab_facts()
    facts.entries = [facts.entries[0], *reversed(facts.entries[1:])]
    assert not verify(scenario(), "r1", [facts], T0).passed


def half_written(**overrides):
    base = dict(ticket_id=9, number="843365", key="online-banking-down", subject=None, status=None, state=None,
                sla=None, department=None, agent=None, team=None, topic=None, priority=None, requester="",
                requester_email="", overdue=False, created=T0, closed=None, due=None, has_thread=False)
    base.update(overrides)
    return TicketFacts(**base)


def test_a_half_written_ticket_says_what_it_lacks():
    assert half_written().incomplete == ["no subject", "no thread", "status unset"]
    assert half_written(has_thread=True, subject="s").incomplete == ["no message", "no created event",
                                                                      "status unset"]


def test_an_unconfirmed_ticket_fails_verification_and_is_named():
    stray = half_written(has_thread=True, subject="Entire mobile/online banking system is down")
    verdict = verify(scenario(), "r1", [lab_facts(), stray], T0 + dt.timedelta(hours=2), confirmed={1})
    assert not verdict.passed
    assert verdict.unconfirmed == [("ticket online-banking-down: created but not confirmed: #843365 "
                                   "(no message, no created event, status unset)")]
    # without a record, the whole ticket counts as the run's and the half-written one is named
    verdict = verify(scenario(), "r1", [stray, lab_facts()], T0 + dt.timedelta(hours=2))
    assert verdict.tickets[0].passed and len(verdict.unconfirmed) == 1


def test_the_report_shows_half_written_tickets_as_incomplete():
    report = build_report("r1", [lab_facts(), half_written(), half_written(ticket_id=10, number="1", key="",
                                                                            has_user=False)], T0)
    assert report.by_status == {"Closed": 1, "incomplete": 2}
    rows = {t.number: t for t in report.tickets}
    assert rows["843365"].sla_state == "incomplete" and rows["843365"].subject == "(no subject)"
    assert rows["1"].incomplete == ["no subject", "no thread", "status unset", "no user"]
    page = render_html(report)
    assert "2 ticket(s) incomplete: #843365 (no subject, no thread, status unset)" in page
    assert report.to_dict()["incomplete"] == 2


def test_events_compare_in_the_order_given():
    facts = lab_facts()
    facts.events = [dataclasses.replace(e) for e in reversed(facts.events)]
    problems = verify(scenario(), "r1", [facts], T0).mismatches()
    assert any("events in order" in p for p in problems)
