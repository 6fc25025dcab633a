"""Compare what a scenario expects with what osTicket's database shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.instance import Instance
from automation.osticket.db import connect, server_now
from automation.osticket.directory import DEPT_SEPARATOR
from automation.osticket.schema import Tables
from automation.osticket.text import normal
from automation.scenarios import ledger as run_ledger
from automation.scenarios.channels import SOURCES
from automation.scenarios.facts import Entry, SlaDefinition, TicketFacts, read_run, read_slas
from automation.scenarios.ledger import Ledger
from automation.scenarios.mail import Mailbox, check_mail, skipped_mail
from automation.scenarios.models import REQUESTER, SYSTEM, EntryExpect, Scenario, TicketSpec

ENTRY_CODES = {"message": "M", "response": "R", "note": "N"}
ENTRY_NAMES = {code: name for name, code in ENTRY_CODES.items()}


@dataclass
class TicketVerdict:
    key: str
    number: str | None
    mismatches: list[str] = field(default_factory=list)
    # Expectations not checked here, with the reason (expect.mail without mail capture): never a failure.
    skipped: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # every expectation checked that holds, as a checklist line
    # The ticket failed at a step during the run (`record.failures`): that is its one mismatch, and its
    # expectations, which its later steps were to bring about, were not checked.
    failed: str = ""

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "number": self.number, "passed": self.passed, "failed": self.failed or None,
                "mismatches": self.mismatches, "skipped": self.skipped}


@dataclass
class Verdict:
    run_id: str
    tickets: list[TicketVerdict]
    review: list[str]
    # Tickets of the run in osTicket that the run never confirmed (an answer lost, a server killed mid-write).
    unconfirmed: list[str] = field(default_factory=list)
    slas: list[str] = field(default_factory=list)  # SLA definitions changed since the run used them

    @property
    def passed(self) -> bool:
        return (not self.review and not self.unconfirmed and not self.slas
                and all(t.passed for t in self.tickets))

    def mismatches(self) -> list[str]:
        lines = [f"ticket {t.key}{f' (#{t.number})' if t.number else ''}: {m}"
                 for t in self.tickets for m in t.mismatches]
        return lines + self.unconfirmed + self.slas + [f"review: {m}" for m in self.review]

    def skipped(self) -> list[str]:
        return [f"ticket {t.key}{f' (#{t.number})' if t.number else ''}: {s}" for t in self.tickets for s in t.skipped]


def unconfirmed_line(ticket: TicketFacts) -> str:
    """``ticket KEY: created but not confirmed: #843365 (no message, status unset)``"""
    state = ", ".join(ticket.incomplete) or "complete in osTicket"
    return f"ticket {ticket.key or '?'}: created but not confirmed: #{ticket.number} ({state})"


@dataclass(frozen=True)
class Posted:
    """An entry a step must have left: its type, author and text (and a note's title, when the step gave one)."""

    type: str  # M R N
    by: str
    text: str
    title: str = ""

    def label(self) -> str:
        kind = ENTRY_NAMES[self.type]
        title = f" {self.title!r}" if self.title else ""
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"{kind} by {self.by}{title} {text!r}"


def posted_entries(spec: TicketSpec) -> list[Posted]:
    """Every message, reply and note the run posted on the ticket, in order, as its writer sees it (whitespace
    normalised, as osTicket's side is: `automation.osticket.text`): the first message, each note and reply, and
    each comment an agent gave with an action (osTicket keeps it as a note)."""
    posted = [Posted("M", REQUESTER, normal(spec.message))]
    for step in spec.steps:
        text = normal(getattr(step, "text", "") or getattr(step, "comment", ""))
        if not text:
            continue
        if step.do == "note":
            posted.append(Posted("N", step.actor, text, normal(step.title)))
        elif step.do == "reply":
            posted.append(Posted("M" if step.actor == REQUESTER else "R", step.actor, text))
        elif hasattr(step, "comment"):
            posted.append(Posted("N", step.actor, text))
    return posted


def check_posted(spec: TicketSpec, facts: TicketFacts) -> list[str]:
    """Each posted entry must be in osTicket, in order, with the body and title the run posted."""
    remaining = iter(facts.entries)
    for want in posted_entries(spec):
        found = any(e.type == want.type and e.by == want.by and e.text == want.text
                    and (not want.title or e.title == want.title) for e in remaining)
        if not found:
            same = [e for e in facts.entries if e.type == want.type and e.by == want.by
                    and (not want.title or e.title == want.title)]
            if want.type == "N" and not want.title:
                same = [e for e in same if e.text]  # comment notes: say what is there instead
            now = "; ".join(f"#{e.id} {e.title + ': ' if e.title and e.type == 'N' else ''}{e.text[:60]!r}"
                            for e in same[:3])
            return [f"{want.label()}: not in osTicket in the run's order"
                    + (f" (by {want.by} there: {now})" if now else "")]
    return []


def _subsequence(wanted: Sequence[object], actual: Sequence[object]) -> bool:
    remaining = iter(actual)
    return all(any(item == seen for seen in remaining) for item in wanted)


def _entry_label(entry: EntryExpect) -> str:
    label = (f"system {entry.type}" if entry.by == SYSTEM else f"{entry.type} by {entry.by}") if entry.by \
        else entry.type
    if entry.title:
        label += f" titled {entry.title!r}"
    if entry.text_contains:
        label += f" containing {entry.text_contains!r}"
    return label


def entry_matches(want: EntryExpect, entry: Entry) -> bool:
    if ENTRY_NAMES.get(entry.type) != want.type:
        return False
    if want.by == SYSTEM:
        if not entry.system:
            return False
    elif want.by is not None and (entry.by != want.by or entry.system):
        return False
    if want.title is not None and entry.title != normal(want.title):
        return False
    return want.text_contains is None or normal(want.text_contains) in entry.text


def _entry_seen(entry: Entry) -> str:
    title = f" {entry.title!r}" if entry.title else ""
    text = entry.text if len(entry.text) <= 50 else entry.text[:47] + "..."
    return f"#{entry.id} {entry.author()}{title}: {text!r}"


def check_entries(wanted: list[EntryExpect], facts: TicketFacts) -> list[str]:
    """Each wanted entry must match a different entry of the thread, in any order."""
    problems: list[str] = []
    free = list(facts.entries)
    for want in wanted:
        found = next((e for e in free if entry_matches(want, e)), None)
        if found is not None:
            free.remove(found)
            continue
        near = [e for e in facts.entries if ENTRY_NAMES.get(e.type) == want.type]
        problems.append(f"thread entry {_entry_label(want)}: not in osTicket"
                        + (f" ({want.type}s there: {'; '.join(_entry_seen(e) for e in near[:4])})" if near
                           else f" (no {want.type} at all)"))
    return problems


def check_collaborators(expected: list[str], facts: TicketFacts) -> list[str]:
    actual = sorted(c.email.casefold() for c in facts.collaborators)
    if sorted(e.casefold() for e in expected) == actual:
        return []
    shown = ", ".join(f"{c.email}{'' if c.active else ' (inactive)'}" for c in facts.collaborators) or "none"
    return [f"collaborators: expected [{', '.join(sorted(expected)) or 'none'}], actual [{shown}]"]


def check_attachments(count: int | None, names: list[str], facts: TicketFacts) -> list[str]:
    actual = [a.name for a in facts.attachments]
    shown = ", ".join(actual) or "none"
    problems = []
    if count is not None and count != len(actual):
        problems.append(f"attachments: expected {count}, actual {len(actual)} ({shown})")
    missing = [n for n in names if n not in actual]
    if missing:
        problems.append(f"attachments: {', '.join(repr(n) for n in missing)} not attached (attached: {shown})")
    return problems


def check_ticket(spec: TicketSpec, facts: TicketFacts, now: dt.datetime, held: list[str] | None = None) -> list[str]:
    """The mismatches; ``held`` receives a line for each expectation that holds."""
    exp = spec.expect
    problems: list[str] = []
    held = held if held is not None else []

    def compare(name: str, expected: object, actual: object) -> None:
        if expected is not None and expected != actual:
            problems.append(f"{name}: expected {expected!r}, actual {actual!r}")
        elif expected is not None:
            held.append(f"{name}: {expected}")

    def checked(name: str, found: list[str]) -> None:
        problems.extend(found)
        if not found:
            held.append(name)

    compare("status", exp.status, facts.status)
    compare("sla", exp.sla, facts.sla)
    compare("department", exp.department,
            facts.department_path if exp.department and DEPT_SEPARATOR in exp.department else facts.department)
    compare("agent", exp.agent, facts.agent or "none" if exp.agent == "none" else facts.agent)
    compare("team", exp.team, facts.team or "none" if exp.team == "none" else facts.team)
    compare("priority", exp.priority, facts.priority)
    compare("overdue", exp.overdue, facts.overdue)
    compare("topic", spec.topic, facts.topic)
    compare("subject", normal(spec.subject), facts.subject)
    compare("source", SOURCES[spec.channel], facts.source)
    if str(spec.requester.email).casefold() != facts.requester_email.casefold():
        problems.append(f"requester: expected {str(spec.requester.email)!r}, actual {facts.requester_email!r}")
    else:
        held.append(f"requester: {spec.requester.email}")
    if exp.sla_met is not None:
        compare("sla_met", exp.sla_met, facts.sla_met(now))
    for kind, minimum in exp.entries_at_least.items():
        count = sum(1 for e in facts.entries if e.type == ENTRY_CODES[kind])
        if count < minimum:
            problems.append(f"thread {kind}s: expected at least {minimum}, actual {count}")
        else:
            held.append(f"thread {kind}s: at least {minimum} ({count})")
    if exp.entries_in_order:
        remaining = iter(facts.entries)
        matched = all(any(entry_matches(want, e) for e in remaining) for want in exp.entries_in_order)
        if not matched:
            detailed = any(w.title or w.text_contains for w in exp.entries_in_order)
            seen = [_entry_seen(e) if detailed else e.author() for e in facts.entries]
            problems.append("thread entries in order: expected "
                            f"[{', '.join(_entry_label(e) for e in exp.entries_in_order)}], actual "
                            f"[{', '.join(seen)}]")
        else:
            held.append(f"thread entries in order: {', '.join(_entry_label(e) for e in exp.entries_in_order)}")
    if exp.entries:
        checked(f"thread entries: {', '.join(_entry_label(e) for e in exp.entries)}", check_entries(exp.entries, facts))
    if exp.collaborators is not None:
        checked(f"collaborators: {', '.join(str(e) for e in exp.collaborators) or 'none'}",
                check_collaborators([str(e) for e in exp.collaborators], facts))
    if exp.attachments is not None:
        checked("attachments: " + ", ".join(
            [f"{exp.attachments.count} file(s)"] * (exp.attachments.count is not None) + exp.attachments.names),
            check_attachments(exp.attachments.count, exp.attachments.names, facts))
    if exp.events_in_order and not _subsequence(exp.events_in_order, [e.name for e in facts.events]):
        problems.append(f"events in order: expected {exp.events_in_order}, actual {[e.name for e in facts.events]}")
    elif exp.events_in_order:
        held.append(f"events in order: {', '.join(exp.events_in_order)}")
    checked("every text posted is kept as written", check_posted(spec, facts))
    return problems


def verify(scenario: Scenario, run_id: str, facts: list[TicketFacts], now: dt.datetime | None = None,
           confirmed: set[int] | None = None, ledger: Ledger | None = None,
           slas: dict[int, SlaDefinition] | None = None, mailbox: Mailbox | None = None,
           failed: Mapping[str, str] | None = None) -> Verdict:
    """``confirmed`` are the ticket ids the run was answered for: any other ticket of the run is named as
    created but not confirmed. Without them (a run whose record is lost) the first whole ticket of each key
    counts as the run's. ``ledger`` (from the run record) holds osTicket to what the run left, ``slas`` (every
    SLA now) to the SLA definitions the run used; ``mailbox`` holds ``expect.mail`` to what osTicket sent.
    ``failed``: the tickets that failed at a step during the run (`record.failures`), key -> why; that failure is
    their verdict, and the final review leaves them out (they stay open because their later steps never ran), so
    that the run and every later `verify` of its record report the same failures."""
    failed = failed or {}
    now = now or dt.datetime.now()
    if ledger is not None:
        if confirmed is None:
            confirmed = {t.ticket_id for t in ledger.tickets.values()}
        key_of = {t.ticket_id: key for key, t in ledger.tickets.items()}
        for f in facts:  # a ticket whose subject lost its tag is still the run's, by its id
            if not f.key and f.ticket_id in key_of:
                f.key = key_of[f.ticket_id]
    if confirmed is None:
        first: dict[str, TicketFacts] = {}
        for f in sorted(facts, key=lambda f: bool(f.incomplete)):  # whole tickets first
            if f.key:
                first.setdefault(f.key, f)
        confirmed = {f.ticket_id for f in first.values()}
    unconfirmed = [f for f in facts if f.ticket_id not in confirmed]
    by_key = {f.key: f for f in facts if f.ticket_id in confirmed}
    verdicts = []
    for spec in scenario.tickets:
        found = by_key.get(spec.key)
        if spec.key in failed:
            verdicts.append(TicketVerdict(spec.key, found.number if found else None, [failed[spec.key]],
                                          failed=failed[spec.key]))
            continue
        if found is None:
            verdicts.append(TicketVerdict(spec.key, None, [f"no ticket of run {run_id} in osTicket"]))
            continue
        held: list[str] = []
        problems = check_ticket(spec, found, now, held)
        skipped: list[str] = []
        if spec.expect.mail:
            box = mailbox or Mailbox(None, "no mail folder given")
            problems += check_mail(spec.expect.mail, found.number, box, held)
            skipped = skipped_mail(spec.expect.mail, box)
        recorded = ledger.tickets.get(spec.key) if ledger is not None else None
        if recorded is not None and ledger is not None:
            problems += run_ledger.compare(recorded, found, ledger.text_form)
        verdicts.append(TicketVerdict(spec.key, found.number, problems, skipped, held))
    sla_problems = run_ledger.compare_slas(ledger.slas, slas) if ledger is not None and slas is not None else []
    review = []
    allowed = scenario.review.open_tickets
    left_out = {f.ticket_id for f in by_key.values() if f.key in failed}
    still_open = [f for f in facts if f.state == "open" and f.ticket_id not in left_out]
    if allowed is not None and len(still_open) > allowed:
        numbers = ", ".join(f"#{f.number} ({f.key})" for f in still_open)
        review.append(f"open tickets: expected at most {allowed}, actual {len(still_open)}: {numbers}")
    return Verdict(run_id, verdicts, review, [unconfirmed_line(f) for f in unconfirmed], sla_problems)


def verify_run(conn: Any, t: Tables, scenario: Scenario, run_id: str) -> Verdict:
    """Read the run's tickets from osTicket's database (`facts.read_run`) and check them."""
    return verify(scenario, run_id, read_run(conn, t, run_id), server_now(conn))


def verify_past_run(instance: Instance, scenario: Scenario, run_id: str,
                    id_range: tuple[int, int | None] | None = None, ticket_ids: Sequence[int] = (),
                    ledger: Ledger | None = None, mailbox: Mailbox | None = None,
                    failed: Mapping[str, str] | None = None) -> Verdict | None:
    """Verify a past run; None when osTicket holds no ticket of that run at all (an unknown run id).

    With the run record's ``id_range`` and ``ticket_ids`` the tickets are read by primary key and any other
    ticket of the range is named unconfirmed; with its ``ledger`` every entry, event and SLA the run left is
    compared too. Without a record the subject tag finds the run's tickets."""
    conn = connect(instance)
    try:
        t = Tables(instance.db.table_prefix)
        facts = read_run(conn, t, run_id, id_range, ticket_ids)
        if not facts:
            return None
        confirmed = set(ticket_ids) if id_range is not None and ticket_ids else None
        slas = read_slas(conn, t) if ledger is not None else None
        return verify(scenario, run_id, facts, server_now(conn), confirmed, ledger, slas, mailbox, failed)
    finally:
        conn.close()
