"""The final review of a run: tickets by status, SLA met or breached, response and resolution times,
by agent and by team; as a terminal table, JSON, or an HTML page with charts."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from automation.instance import Instance
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.scenarios.facts import TicketFacts, read_run

INCOMPLETE = "incomplete"  # the status shown for a ticket osTicket wrote only half-way (no status, thread or user)


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
    sla_state: str  # met | breached | pending | no SLA | incomplete
    first_response_s: float | None
    resolution_s: float | None
    incomplete: list[str] = field(default_factory=list)  # what a ticket written half-way lacks


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

    @property
    def open_count(self) -> int:
        return sum(n for status, n in self.by_status.items() if status == "Open")

    @property
    def incomplete(self) -> list[TicketRow]:
        return [t for t in self.tickets if t.incomplete]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "generated": self.generated, "by_status": self.by_status,
                "open": self.open_count, "incomplete": len(self.incomplete),
                "tickets": [t.__dict__ for t in self.tickets],
                "by_agent": [g.to_dict() for g in self.by_agent], "by_team": [g.to_dict() for g in self.by_team]}


def build_report(run_id: str, facts: list[TicketFacts], now: dt.datetime) -> Report:
    rows = []
    agents: dict[str, GroupRow] = defaultdict(lambda: GroupRow(""))
    teams: dict[str, GroupRow] = defaultdict(lambda: GroupRow(""))
    for ticket in facts:
        missing = ticket.incomplete
        met = None if missing else ticket.sla_met(now)
        state = ("incomplete" if missing else "no SLA" if ticket.due is None
                 else {True: "met", False: "breached", None: "pending"}[met])
        first = _seconds(ticket.created, ticket.first_response_at)
        resolution = _seconds(ticket.created, ticket.resolved_at)
        rows.append(TicketRow(ticket.key or "?", ticket.number, ticket.subject or "(no subject)",
                              INCOMPLETE if missing else ticket.status or INCOMPLETE, ticket.sla, ticket.agent,
                              ticket.team, ticket.due.isoformat(sep=" ") if ticket.due else None, state, first,
                              resolution, missing))
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
    return Report(run_id, now.isoformat(sep=" "), rows, by_status,
                  sorted(agents.values(), key=lambda g: g.name), sorted(teams.values(), key=lambda g: g.name))


def render_html(report: Report) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ostops final review - run {html.escape(report.run_id)}</title>
<style>{REVIEW_CSS}</style>
</head><body>
<h1>Final review - run {html.escape(report.run_id)}</h1>
{review_sections(report)}
</body></html>
"""


REVIEW_CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eef3fa}
figure{display:inline-block;margin:1em 2em 1em 0}figcaption{font-weight:bold;margin-bottom:.5em}"""


def review_sections(report: Report, level: int = 2) -> str:
    """The review as HTML to place in a page: the verdict, the charts, then the tables (every value escaped)."""
    def table(headers: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def bars(title: str, values: dict[str, float], unit: str) -> str:
        width, bar_h, gap, label_w = 560, 22, 8, 170
        top = max(values.values(), default=0) or 1
        height = len(values) * (bar_h + gap) + 10
        parts = [(f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
                 f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13">')]
        for i, (label, value) in enumerate(values.items()):
            y = i * (bar_h + gap) + 5
            length = (width - label_w - 90) * value / top
            parts.append(f'<text x="0" y="{y + 16}">{html.escape(label)}</text>')
            parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#3b78c2"/>')
            parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 16}">{value:g} {unit}</text>')
        parts.append("</svg>")
        return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}</figure>"

    sla_counts = Counter(t.sla_state for t in report.tickets)
    resolution_by_agent = {g.name: round(mean(g.resolution), 1) for g in report.by_agent if g.resolution}
    charts = (bars("Tickets by status", {k: float(v) for k, v in report.by_status.items()}, "")
              + bars("SLA outcome", {k: float(v) for k, v in sorted(sla_counts.items())}, "")
              + bars("Average time to resolution by agent (seconds)", resolution_by_agent, "s"))
    ticket_rows = [[t.key, f"#{t.number}", t.subject, t.status, t.sla or "-", t.agent or "-", t.team or "-",
                    t.due or "-", t.sla_state, human_duration(t.first_response_s), human_duration(t.resolution_s)]
                   for t in report.tickets]
    group_headers = ["name", "tickets", "resolved", "SLA met", "SLA breached", "avg first response",
                     "avg resolution"]

    def group_rows(groups: list[GroupRow]) -> list[list[str]]:
        return [[d["name"], d["tickets"], d["resolved"], d["sla_met"], d["sla_breached"],
                 human_duration(d["avg_first_response_s"]), human_duration(d["avg_resolution_s"])]
                for d in (g.to_dict() for g in groups)]

    verdict = "Nothing left open." if report.open_count == 0 else f"{report.open_count} ticket(s) still open."
    if report.incomplete:
        verdict += (f" {len(report.incomplete)} ticket(s) incomplete: "
                    + "; ".join(f"#{t.number} ({', '.join(t.incomplete)})" for t in report.incomplete) + ".")
    h = f"h{level}"
    return f"""<p>Generated {html.escape(report.generated)}. {verdict}</p>
{charts}
<{h}>Tickets</{h}>
{table(["key", "number", "subject", "status", "SLA", "agent", "team", "due", "SLA outcome", "first response",
        "resolution"], ticket_rows)}
<{h}>By agent</{h}>
{table(group_headers, group_rows(report.by_agent))}
<{h}>By team</{h}>
{table(group_headers, group_rows(report.by_team))}
"""


def read_report(instance: Instance, run_id: str, id_range: tuple[int, int] | None = None,
                ticket_ids: Sequence[int] = ()) -> Report | None:
    """The final review of a run, read from osTicket's database; None when it holds no ticket of the run.
    With the run record's ``id_range`` the tickets are read by primary key (`facts.read_run`)."""
    conn = db.connect(instance)
    try:
        facts = read_run(conn, Tables(instance.db.table_prefix), run_id, id_range, ticket_ids)
        now = db.server_now(conn)
    finally:
        conn.close()
    return build_report(run_id, facts, now) if facts else None
