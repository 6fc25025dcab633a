"""The final review of a run: tickets by status, SLA met or breached, response and resolution times,
by agent and by team; as a terminal table, JSON, or an HTML page with charts (`review_html`).

Rows are in the scenario's order; times carry the database server's UTC offset (`osticket.server_zone`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from automation.instance import Instance
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.osticket.server_zone import UTC, ServerZone, server_clock
from automation.scenarios.facts import TicketFacts, read_run

INCOMPLETE = "incomplete"  # the status shown for a ticket osTicket wrote only half-way (no status, thread or user)
UNCONFIRMED = "unconfirmed"  # the SLA outcome of a ticket the run was never answered for: none is claimed


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if end is None or start is None else (end - start).total_seconds()


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class TicketRow:
    key: str
    number: str
    subject: str
    status: str
    sla: str | None
    agent: str | None
    team: str | None
    due: str | None
    sla_state: str  # met | breached | pending | no SLA | no due date | incomplete | unconfirmed
    first_response_s: float | None
    resolution_s: float | None
    incomplete: list[str] = field(default_factory=list)  # what a ticket written half-way lacks
    ticket_id: int = 0  # osTicket's, for the staff panel's link
    # False: osTicket holds the ticket in the run's range, but the run was never answered for it (a server
    # killed or frozen mid-request); its SLA outcome is not judged.
    confirmed: bool = True

    @property
    def label(self) -> str:
        """The ticket's key as the tables show it: ``load-41 (unconfirmed)`` for one the run never confirmed."""
        return self.key if self.confirmed else f"{self.key} ({UNCONFIRMED})"


@dataclass
class GroupRow:
    name: str
    tickets: int = 0
    resolved: int = 0
    sla_met: int = 0
    sla_breached: int = 0
    first_response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tickets": self.tickets, "resolved": self.resolved, "sla_met": self.sla_met,
                "sla_breached": self.sla_breached,
                "avg_first_response_s": round(mean(self.first_response), 2) if self.first_response else None,
                "avg_resolution_s": round(mean(self.resolution), 2) if self.resolution else None}


@dataclass
class Report:
    run_id: str
    generated: str
    tickets: list[TicketRow]
    by_status: dict[str, int]
    by_agent: list[GroupRow]
    by_team: list[GroupRow]
    zone: ServerZone = UTC  # the database server's, in which every time of the report is given
    staff_url: str = ""  # the staff panel (``…/scp/``); tickets link to it when known

    def ticket_link(self, row: TicketRow) -> str | None:
        return f"{self.staff_url}tickets.php?id={row.ticket_id}" if self.staff_url and row.ticket_id else None

    @property
    def open_count(self) -> int:
        return sum(n for status, n in self.by_status.items() if status == "Open")

    @property
    def incomplete(self) -> list[TicketRow]:
        return [t for t in self.tickets if t.incomplete]

    @property
    def unconfirmed(self) -> list[TicketRow]:
        return [t for t in self.tickets if not t.confirmed]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "generated": self.generated,
                "timezone": {"clock": "database server", "utc_offset": self.zone.label, "zone": self.zone.name},
                "by_status": self.by_status, "open": self.open_count, "incomplete": len(self.incomplete),
                "unconfirmed": len(self.unconfirmed),
                "tickets": [{**t.__dict__, "link": self.ticket_link(t)} for t in self.tickets],
                "by_agent": [g.to_dict() for g in self.by_agent], "by_team": [g.to_dict() for g in self.by_team]}


def build_report(run_id: str, facts: list[TicketFacts], now: dt.datetime, zone: ServerZone = UTC,
                 staff_url: str = "", order: Sequence[str] = (), confirmed: Collection[str] | None = None) -> Report:
    """``order``: the scenario's ticket keys; rows follow it, then (and without it) osTicket's creation order.
    ``confirmed``: the numbers of the tickets the run was answered for (its record's); any other ticket is
    marked unconfirmed and gets no SLA outcome. None: no record, every ticket taken as the run's."""
    position = {key: i for i, key in enumerate(order)}
    facts = sorted(facts, key=lambda f: (position.get(f.key, len(position)), f.ticket_id))
    rows = []
    agents: dict[str, GroupRow] = defaultdict(lambda: GroupRow(""))
    teams: dict[str, GroupRow] = defaultdict(lambda: GroupRow(""))
    for ticket in facts:
        missing = ticket.incomplete
        unconfirmed = confirmed is not None and ticket.number not in confirmed
        met = None if missing or unconfirmed else ticket.sla_met(now)
        if missing or unconfirmed:
            state = "incomplete" if missing else UNCONFIRMED
        elif ticket.due is None:
            state = "no SLA" if ticket.sla is None else "no due date"
        else:
            state = {True: "met", False: "breached", None: "pending"}[met]
        first = _seconds(ticket.created, ticket.first_response_at)
        resolution = _seconds(ticket.created, ticket.resolved_at)
        rows.append(TicketRow(ticket.key or "?", ticket.number, ticket.subject or "(no subject)",
                              INCOMPLETE if missing else ticket.status or INCOMPLETE, ticket.sla, ticket.agent,
                              ticket.team, _stamp(zone, ticket.due), state, first, resolution, missing,
                              ticket_id=ticket.ticket_id, confirmed=not unconfirmed))
        for groups, name in ((agents, ticket.agent or "(unassigned)"), (teams, ticket.team or "(no team)")):
            group = groups[name]
            group.name = name
            group.tickets += 1
            group.resolved += ticket.state != "open"
            group.sla_met += met is True
            group.sla_breached += met is False
            if first is not None:
                group.first_response.append(first)
            if resolution is not None:
                group.resolution.append(resolution)
    by_status = dict(sorted(Counter(row.status for row in rows).items()))
    return Report(run_id, _stamp(zone, now) or "", rows, by_status,
                  sorted(agents.values(), key=lambda g: g.name), sorted(teams.values(), key=lambda g: g.name),
                  zone, staff_url)


def _stamp(zone: ServerZone, value: dt.datetime | None) -> str | None:
    """``2026-12-03 09:30:00+00:00``: ISO 8601 with the server's offset, so no reader has to guess the zone."""
    return None if value is None else zone.aware(value).isoformat(sep=" ", timespec="seconds")


def read_report(instance: Instance, run_id: str, id_range: tuple[int, int | None] | None = None,
                ticket_ids: Sequence[int] = (), order: Sequence[str] = (),
                confirmed: Collection[str] | None = None) -> Report | None:
    """The final review of a run, read from osTicket's database; None when it holds no ticket of the run.
    With the run record's ``id_range`` the tickets are read by primary key (`facts.read_run`); ``confirmed``
    (`build_report`) marks the others."""
    conn = db.connect(instance)
    try:
        facts = read_run(conn, Tables(instance.db.table_prefix), run_id, id_range, ticket_ids)
        now, zone = server_clock(conn)
    finally:
        conn.close()
    return build_report(run_id, facts, now, zone, instance.base_url + "scp/", order, confirmed) if facts else None
