"""What a run left in osTicket, kept in its run record as digests, so that `verify` catches a rewrite days
later: every thread entry (the run's own and osTicket's) by id with a digest of its title and body, the
subject's digest, the events in order of (timestamp, id), and the definitions of the SLAs the run used.

Texts are digested as a reader sees them (`automation.osticket.text.shown`: character references decoded,
whitespace normalised). Records written before that (no ``text_form``: form 1) digested a text-format body and a
title as osTicket holds them, escaped, and a subject with its whitespace; they are compared in their own form."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from automation.osticket.text import normal, shown
from automation.scenarios.facts import TAG_PATTERN, Entry, SlaDefinition, TicketFacts

KIND = {"M": "message", "R": "reply", "N": "note"}
TEXT_FORM = 2  # texts as a reader sees them; 1: as osTicket holds them (records written before form 2)


def digest(text: str | None) -> str:
    """64 bits of SHA-256: enough to tell a rewrite, short enough to keep every entry of a run."""
    return "" if text is None else hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EntryDigest:
    id: int
    type: str
    by: str
    title: str  # digest
    text: str  # digest of the plain text

    @classmethod
    def of(cls, entry: Entry) -> EntryDigest:
        return cls(entry.id, entry.type, entry.by, digest(entry.title), digest(entry.text))

    def matches(self, entry: Entry, form: int) -> tuple[bool, bool]:
        """Whether the entry's title and its text are those the digests were taken of, in the ledger's form."""
        if form >= TEXT_FORM:
            return digest(entry.title) == self.title, digest(entry.text) == self.text
        text = normal(entry.body) if entry.format == "text" else shown(entry.body, "html")
        return digest(entry.stored_title) == self.title, digest(text) == self.text

    def label(self) -> str:
        return f"{KIND.get(self.type, self.type)} #{self.id} by {self.by or 'osTicket'}"


@dataclass(frozen=True)
class EventDigest:
    id: int
    name: str
    timestamp: str  # ISO, as the database gave it
    annulled: bool = False


@dataclass
class TicketLedger:
    ticket_id: int
    number: str
    subject: str  # digest of the subject without the run's tag
    entries: list[EntryDigest] = field(default_factory=list)
    events: list[EventDigest] = field(default_factory=list)  # every one, annulled too, by (timestamp, id)


@dataclass
class Ledger:
    tickets: dict[str, TicketLedger] = field(default_factory=dict)
    slas: dict[int, SlaDefinition] = field(default_factory=dict)
    text_form: int = TEXT_FORM

    def to_json(self) -> dict[str, Any]:
        return {"tickets": {key: asdict(t) for key, t in self.tickets.items()},
                "slas": {str(i): asdict(s) for i, s in self.slas.items()}, "text_form": self.text_form}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        """Raises KeyError, TypeError or ValueError on a record that is not one (the caller names the file)."""
        tickets = {}
        for key, t in data["tickets"].items():
            tickets[str(key)] = TicketLedger(
                int(t["ticket_id"]), str(t["number"]), str(t["subject"]),
                [EntryDigest(int(e["id"]), str(e["type"]), str(e["by"]), str(e["title"]), str(e["text"]))
                 for e in t["entries"]],
                [EventDigest(int(e["id"]), str(e["name"]), str(e["timestamp"]), bool(e.get("annulled", False)))
                 for e in t["events"]])
        slas = {int(i): SlaDefinition(int(s["id"]), str(s["name"]), int(s["grace_period"]),
                                      int(s["schedule_id"]), int(s["flags"])) for i, s in data["slas"].items()}
        return cls(tickets, slas, int(data.get("text_form", 1)))


def take(facts: Iterable[TicketFacts], slas: dict[int, SlaDefinition], sla_names: Iterable[str] = ()) -> Ledger:
    """The ledger of the run's confirmed tickets as osTicket holds them now, with the SLAs they have and the ones
    the scenario names."""
    ledger = Ledger()
    used: set[int] = set()
    for f in facts:
        ledger.tickets[f.key] = TicketLedger(
            f.ticket_id, f.number, digest(f.subject), [EntryDigest.of(e) for e in f.entries],
            [EventDigest(e.id, e.name, _iso(e.timestamp), e.annulled) for e in f.history])
        if f.sla_id:
            used.add(f.sla_id)
    names = set(sla_names)
    ledger.slas = {i: s for i, s in slas.items() if i in used or s.name in names}
    return ledger


def _iso(value: object) -> str:
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat(sep=" ") if isoformat else value)


def _subject(found: TicketFacts, form: int) -> str | None:
    if form >= TEXT_FORM or found.full_subject is None:
        return found.subject
    return TAG_PATTERN.sub("", found.full_subject).rstrip()


def compare(recorded: TicketLedger, found: TicketFacts, form: int = TEXT_FORM) -> list[str]:
    """Each difference between the ticket as the run left it and as osTicket holds it now, named. ``form`` is the
    ledger's (`Ledger.text_form`)."""
    problems: list[str] = []
    if digest(_subject(found, form)) != recorded.subject:
        problems.append(f"subject rewritten since the run (now {found.subject!r})")
    now = {e.id: e for e in found.entries}
    for entry in recorded.entries:
        current = now.get(entry.id)
        if current is None:
            problems.append(f"{entry.label()} deleted since the run")
            continue
        if (current.type, current.by) != (entry.type, entry.by):
            problems.append(f"{entry.label()}: now a {KIND.get(current.type, current.type)} by "
                            f"{current.by or 'osTicket'}")
        same_title, same_text = entry.matches(current, form)
        if not same_title:
            problems.append(f"{entry.label()}: title rewritten since the run (now {current.title!r})")
        if not same_text:
            text = current.text if len(current.text) <= 60 else current.text[:57] + "..."
            problems.append(f"{entry.label()}: body rewritten since the run (now {text!r})")
    events = {e.id: e for e in found.history}
    for event in recorded.events:
        current_event = events.get(event.id)
        if current_event is None:
            problems.append(f"event #{event.id} {event.name} deleted since the run")
            continue
        if current_event.annulled != event.annulled:
            problems.append(f"event #{event.id} {event.name} {'annulled' if current_event.annulled else 'restored'}"
                            " since the run")
        if _iso(current_event.timestamp) != event.timestamp:
            problems.append(f"event #{event.id} {event.name}: timestamp {event.timestamp} at the run, now "
                            f"{_iso(current_event.timestamp)}")
    recorded_ids = {r.id for r in recorded.events}
    kept = [e.id for e in found.history if e.id in recorded_ids]
    order = [e.id for e in recorded.events if e.id in events]
    if kept != order:
        names = {e.id: e.name for e in found.history}
        problems.append("events reordered since the run: at the run "
                        f"[{', '.join(f'#{i} {names[i]}' for i in order)}], now "
                        f"[{', '.join(f'#{i} {names[i]}' for i in kept)}]")
    return problems


def compare_slas(recorded: dict[int, SlaDefinition], current: dict[int, SlaDefinition]) -> list[str]:
    """The SLA definitions the run used that changed since: grace period, schedule, flags."""
    problems = []
    for sla_id, then in sorted(recorded.items()):
        now = current.get(sla_id)
        if now is None:
            problems.append(f"SLA {then.name!r} (id {sla_id}) deleted since the run")
            continue
        for what, a, b in (("name", then.name, now.name),
                           ("grace period", f"{then.grace_period} h", f"{now.grace_period} h"),
                           ("schedule", then.schedule_id, now.schedule_id), ("flags", then.flags, now.flags)):
            if a != b:
                problems.append(f"SLA {then.name!r}: {what} {a} at the run, now {b}")
    return problems
