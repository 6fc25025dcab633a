"""The write-up tells the whole story: the mail osTicket sent placed after the step that made it, a checklist per
ticket from the verdict, osTicket's own reactions (a reply reopening a resolved ticket); no browser, no osTicket."""

from __future__ import annotations

import datetime as dt
import html
from email.message import EmailMessage
from pathlib import Path

from automation.local import smtpd
from automation.scenarios.evidence import add_checks, add_mails
from automation.scenarios.loader import load_scenario
from automation.scenarios.mail import Mailbox
from automation.scenarios.reactions import reaction_in, reopened
from automation.scenarios.verify import TicketVerdict, Verdict, verify
from automation.scenarios.writeup import Shot, render
from tests.unit.test_evidence import sample_writeup
from tests.unit.test_scenarios import LAB, T0, facts

SUBJECT = "Re: Entire mobile/online banking system is down <now> & out — 网银 [#123456]"


def _iso(seconds: float) -> str:
    return (dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)).isoformat(
        timespec="milliseconds")


def _store(folder: Path, at: float, to: str, subject: str, html_body: str, serial: int) -> None:
    message = EmailMessage()
    message["From"] = "IT Help Desk <helpdesk@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 12:00:05 +0000"
    message.set_content(html_body, subtype="html")
    smtpd.store(folder, smtpd.message_bytes("helpdesk@example.com", [to], bytes(message)), serial)
    newest = max(folder.glob("*.eml"))
    stamp = int((dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC).timestamp() + at) * 1e9)
    newest.rename(folder / f"{stamp:020d}-{serial:06d}.eml")


def test_a_requesters_reply_to_a_resolved_ticket_is_told_as_osticket_reopening_it() -> None:
    assert reopened(("Resolved", "closed"), ("Open", "open")) == (
        "osTicket reopened the ticket (Resolved -> Open: a requester's reply reopens a resolved ticket)")
    assert reopened(("Open", "open"), ("Open", "open")) == ""
    assert reopened(("Closed", "closed"), ("Closed", "closed")) == ""
    assert reopened(None, ("Open", "open")) == ""
    line = "k: requester reply - " + reopened(("Resolved", "closed"), ("Open", "open")) + " (0.31 s)"
    assert reaction_in(line).startswith("osTicket reopened the ticket (Resolved -> Open") and reaction_in("k: x") == ""


def test_each_expected_mail_follows_the_step_that_sent_it(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    w = sample_writeup()
    story = w.tickets[0]
    story.shots[0].at, story.shots[1].at = _iso(1), _iso(10)
    _store(folder, 0.5, "Karen Doe <karen.doe@example.com>", "Support Ticket Opened [#123456]",
           "<p>We received your request.</p>", 1)
    _store(folder, 5, "karen.doe@example.com", SUBJECT, "<p>Online banking is&nbsp;<b>restored</b>.</p><p>Thanks &amp; "
                                                      "bye</p>", 2)
    _store(folder, 6, "john.doe@example.com", "New Ticket Alert [#123456]", "<p>for the agent</p>", 3)
    _store(folder, 7, "karen.doe@example.com", "About another ticket [#999999]", "<p>not hers</p>", 4)
    add_mails(w, load_scenario(LAB).scenario, Mailbox(folder))
    subject = Mailbox(folder).messages()[1].subject  # as the mail list reads it back
    assert subject.startswith("Re: Entire mobile/online banking system is down <now> & out")
    assert [(m.after, m.headers[2][1]) for m in story.mails] == [(0, "Support Ticket Opened [#123456]"),
                                                                 (1, subject)]
    assert story.mails[1].text == "Online banking is restored.\nThanks & bye"
    assert story.mails[1].expectation.startswith("to karen.doe@example.com subject containing 'Entire mobile")
    files = render(w)
    page = files["index.html"]
    assert html.escape(subject, quote=False) in page and "<now>" not in page
    created, sla = page.index("1. online-banking-down: Karen Doe create"), page.index("2. online-banking-down: john")
    assert created < page.index("Support Ticket Opened") < sla < page.index("Online banking is restored.")
    assert "for the agent" not in page and "not hers" not in page, "only the mail the expectations are about"
    readme = files["README.md"]
    assert "> **Subject:** Re: Entire mobile/online banking system is down \\<now\\> & out" in readme
    assert "> Thanks & bye" in readme


def test_the_checklist_is_the_verdicts_held_failed_and_skipped_lines() -> None:
    scenario = load_scenario(LAB).scenario
    first = scenario.tickets[0]
    scenario = scenario.model_copy(update={"tickets": [first.model_copy(update={"expect": first.expect.model_copy(
        update={"mail": []})})]})
    verdict = verify(scenario, "r1", [facts(priority="High")], T0 + dt.timedelta(hours=2))
    (ticket,) = verdict.tickets
    assert ticket.mismatches == ["priority: expected 'Emergency', actual 'High'"]
    assert {"status: Closed", "sla: Sev-A", "team: Online Banking", "agent: jane.doe", "overdue: False",
            "sla_met: True", "requester: karen.doe@example.com", "events in order: created, edited, assigned, closed",
            "every text posted is kept as written"} <= set(ticket.held)
    assert not any(line.startswith("priority") for line in ticket.held)
    w = sample_writeup()
    add_checks(w, Verdict("r1", [TicketVerdict("online-banking-down", "123456", ticket.mismatches,
                                               ["mail[0] to k@example.com: skipped: no capture"], ticket.held)], []))
    states = {(c.state, c.text) for c in w.tickets[0].checks}
    assert ("failed", "priority: expected 'Emergency', actual 'High'") in states
    assert ("held", "sla: Sev-A") in states and ("skipped", "mail[0] to k@example.com: skipped: no capture") in states
    files = render(w)
    assert '<li class="check-failed">priority: expected &#39;Emergency&#39;, actual &#39;High&#39;</li>' in files["index.html"]
    assert "- ✓ sla: Sev-A" in files["README.md"] and "- ✗ priority: expected 'Emergency'" in files["README.md"]


def test_a_reaction_and_the_pdf_are_named_in_the_write_up() -> None:
    w = sample_writeup()
    w.tickets[0].shots.append(Shot("shots/05-x.png", "k: requester reply - osTicket reopened the ticket (Resolved -> "
                                   "Open: a requester's reply reopens a resolved ticket) (0.3 s)", "Karen's screen", "/x",
                                   reaction="osTicket reopened the ticket (Resolved -> Open: a requester's reply "
                                            "reopens a resolved ticket)"))
    w.pdf = True
    files = render(w)
    assert '<p class="reaction">osTicket reopened the ticket (Resolved -&gt; Open' in files["index.html"]
    assert "**osTicket reopened the ticket (Resolved -\\> Open" in files["README.md"]
    assert 'href="evidence.pdf"' in files["index.html"] and "(evidence.pdf)" in files["README.md"]
    assert '"pdf": "evidence.pdf"' in files["evidence.json"]
