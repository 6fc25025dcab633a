"""Compare what a scenario expects with what osTicket's database shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from automation.scenarios.facts import TicketFacts
from automation.scenarios.models import EntryExpect, Scenario, TicketSpec

ENTRY_CODES = {"message": "M", "response": "R", "note": "N"}
ENTRY_NAMES = {code: name for name, code in ENTRY_CODES.items()}


@dataclass
class TicketVerdict:
    key: str
    number: str | None
    mismatches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass
class Verdict:
    run_id: str
    tickets: list[TicketVerdict]
    review: list[str]

    @property
    def passed(self) -> bool:
        return not self.review and all(t.passed for t in self.tickets)

    def mismatches(self) -> list[str]:
        lines = [f"ticket {t.key}{f' (#{t.number})' if t.number else ''}: {m}"
                 for t in self.tickets for m in t.mismatches]
        return lines + [f"review: {m}" for m in self.review]


def _subsequence(wanted: Sequence[object], actual: Sequence[object]) -> bool:
    remaining = iter(actual)
    return all(any(item == seen for seen in remaining) for item in wanted)


def _entry_label(entry: EntryExpect) -> str:
    return f"{entry.type} by {entry.by}" if entry.by else entry.type


def check_ticket(spec: TicketSpec, facts: TicketFacts, now: dt.datetime) -> list[str]:
    exp = spec.expect
    problems: list[str] = []

    def compare(name: str, expected: object, actual: object) -> None:
        if expected is not None and expected != actual:
            problems.append(f"{name}: expected {expected!r}, actual {actual!r}")

    compare("status", exp.status, facts.status)
    compare("sla", exp.sla, facts.sla)
    compare("department", exp.department, facts.department)
    compare("agent", exp.agent, facts.agent or "none" if exp.agent == "none" else facts.agent)
    compare("team", exp.team, facts.team or "none" if exp.team == "none" else facts.team)
    compare("priority", exp.priority, facts.priority)
    compare("overdue", exp.overdue, facts.overdue)
    compare("topic", spec.topic, facts.topic)
    if str(spec.requester.email).casefold() != facts.requester_email.casefold():
        problems.append(f"requester: expected {str(spec.requester.email)!r}, actual {facts.requester_email!r}")
    if exp.sla_met is not None:
        compare("sla_met", exp.sla_met, facts.sla_met(now))
    for kind, minimum in exp.entries_at_least.items():
        count = sum(1 for e in facts.entries if e.type == ENTRY_CODES[kind])
        if count < minimum:
            problems.append(f"thread {kind}s: expected at least {minimum}, actual {count}")
    if exp.entries_in_order:
        actual = [(ENTRY_NAMES.get(e.type, e.type), e.by) for e in facts.entries]
        remaining = iter(actual)
        matched = all(
            any(kind == want.type and (want.by is None or by == want.by) for kind, by in remaining)
            for want in exp.entries_in_order
        )
        if not matched:
            problems.append("thread entries in order: expected "
                            f"[{', '.join(_entry_label(e) for e in exp.entries_in_order)}], actual "
                            f"[{', '.join(f'{kind} by {by}' for kind, by in actual)}]")
    if exp.events_in_order and not _subsequence(exp.events_in_order, [e.name for e in facts.events]):
        problems.append(f"events in order: expected {exp.events_in_order}, actual {[e.name for e in facts.events]}")
    return problems


def verify(scenario: Scenario, run_id: str, facts: list[TicketFacts], now: dt.datetime | None = None) -> Verdict:
    now = now or dt.datetime.now()
    by_key = {f.key: f for f in facts}
    verdicts = []
    for spec in scenario.tickets:
        found = by_key.get(spec.key)
        if found is None:
            verdicts.append(TicketVerdict(spec.key, None, [f"no ticket of run {run_id} in osTicket"]))
        else:
            verdicts.append(TicketVerdict(spec.key, found.number, check_ticket(spec, found, now)))
    review = []
    allowed = scenario.review.open_tickets
    still_open = [f for f in facts if f.state == "open"]
    if allowed is not None and len(still_open) > allowed:
        numbers = ", ".join(f"#{f.number} ({f.key})" for f in still_open)
        review.append(f"open tickets: expected at most {allowed}, actual {len(still_open)}: {numbers}")
    return Verdict(run_id, verdicts, review)
