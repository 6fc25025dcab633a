"""What osTicket's database says about one run: three batched queries, whatever the number of tickets."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from automation.osticket.db import Tables, cursor

TAG_PATTERN = re.compile(r"\[ostops (?P<run>[A-Za-z0-9-]+) (?P<key>[a-z0-9-]+)\]\s*$")


def run_tag(run_id: str, key: str) -> str:
    return f"[ostops {run_id} {key}]"


@dataclass
class Entry:
    type: str  # M message, R response, N note
    by: str  # agent username, "requester", or the poster's name
    created: dt.datetime


@dataclass
class Event:
    name: str
    username: str
    timestamp: dt.datetime
    data: str | None


@dataclass
class TicketFacts:
    ticket_id: int
    number: str
    key: str
    subject: str
    status: str
    state: str
    sla: str | None
    department: str | None
    agent: str | None
    team: str | None
    topic: str | None
    priority: str | None
    requester: str
    requester_email: str
    overdue: bool
    created: dt.datetime
    closed: dt.datetime | None
    due: dt.datetime | None
    entries: list[Entry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def resolved_at(self) -> dt.datetime | None:
        """When the ticket was first resolved or closed."""
        return next((e.timestamp for e in self.events if e.name == "closed"), self.closed)

    @property
    def first_response_at(self) -> dt.datetime | None:
        return next((e.created for e in self.entries if e.type == "R"), None)

    def sla_met(self, now: dt.datetime) -> bool | None:
        """True when resolved before the due time; None while open and not yet due."""
        if self.due is None:
            return None
        done = self.resolved_at
        if done is not None:
            return done <= self.due
        return None if now <= self.due else False


def run_like(run_id: str) -> str:
    """A LIKE pattern matching the subjects of one run's tickets."""
    return "%" + run_tag(run_id, "").rstrip("]").replace("_", r"\_") + "%"


def read_run(conn: Any, t: Tables, run_id: str) -> list[TicketFacts]:
    """Every ticket of one run with its thread entries and events: three queries whatever the run's size. Only
    the first searches subjects; the other two look the run's threads up by ticket id."""
    with cursor(conn) as cur:
        cur.execute(
            f"""SELECT tk.ticket_id, tk.number, tk.created, tk.closed, tk.isoverdue, tk.user_id,
                       COALESCE(tk.duedate, tk.est_duedate) AS due, cd.subject,
                       st.name AS status, st.state, sla.name AS sla, d.name AS department,
                       s.username AS agent, tm.name AS team, tp.topic, pr.priority_desc AS priority,
                       u.name AS requester, ue.address AS requester_email
                FROM {t.ticket} tk
                JOIN {t.ticket__cdata} cd ON cd.ticket_id = tk.ticket_id
                LEFT JOIN {t.ticket_status} st ON st.id = tk.status_id
                LEFT JOIN {t.sla} sla ON sla.id = tk.sla_id
                LEFT JOIN {t.department} d ON d.id = tk.dept_id
                LEFT JOIN {t.staff} s ON s.staff_id = tk.staff_id
                LEFT JOIN {t.team} tm ON tm.team_id = tk.team_id
                LEFT JOIN {t.help_topic} tp ON tp.topic_id = tk.topic_id
                LEFT JOIN {t.ticket_priority} pr ON pr.priority_id = cd.priority
                LEFT JOIN {t.user} u ON u.id = tk.user_id
                LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id
                WHERE cd.subject LIKE %s
                ORDER BY tk.ticket_id""",
            (run_like(run_id),),
        )
        # LIKE is a coarse filter ("_" and a longer id with the same start); the tag's own pattern decides.
        rows = [(row, match) for row in cur.fetchall()
                if (match := TAG_PATTERN.search(row["subject"] or "")) and match.group("run") == run_id]
        ids = [row["ticket_id"] for row, _ in rows]
        entry_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        if ids:
            of_run = f"th.object_type = 'T' AND th.object_id IN ({', '.join(['%s'] * len(ids))})"
            cur.execute(
                f"""SELECT th.object_id AS ticket_id, e.type, e.user_id, e.poster, e.created, s.username
                    FROM {t.thread} th JOIN {t.thread_entry} e ON e.thread_id = th.id
                    LEFT JOIN {t.staff} s ON s.staff_id = e.staff_id AND e.staff_id > 0
                    WHERE {of_run} ORDER BY e.id""",
                ids,
            )
            entry_rows = cur.fetchall()
            cur.execute(
                f"""SELECT th.object_id AS ticket_id, ev.name, te.username, te.timestamp, te.data
                    FROM {t.thread} th JOIN {t.thread_event} te ON te.thread_id = th.id
                    JOIN {t.event} ev ON ev.id = te.event_id
                    WHERE {of_run} AND te.annulled = 0 ORDER BY te.id""",
                ids,
            )
            event_rows = cur.fetchall()

    tickets: dict[int, TicketFacts] = {}
    requester_of: dict[int, int] = {}
    for row, match in rows:
        requester_of[row["ticket_id"]] = row["user_id"]
        tickets[row["ticket_id"]] = TicketFacts(
            ticket_id=row["ticket_id"], number=str(row["number"]), key=match.group("key"),
            subject=TAG_PATTERN.sub("", row["subject"]).rstrip(), status=row["status"], state=row["state"],
            sla=row["sla"], department=row["department"], agent=row["agent"], team=row["team"], topic=row["topic"],
            priority=row["priority"], requester=row["requester"] or "", requester_email=row["requester_email"] or "",
            overdue=bool(row["isoverdue"]), created=row["created"], closed=row["closed"], due=row["due"],
        )
    for row in entry_rows:
        ticket = tickets.get(row["ticket_id"])
        if ticket is None:
            continue
        if row["type"] == "M" and row["user_id"] == requester_of[ticket.ticket_id]:
            by = "requester"
        else:
            by = row["username"] or row["poster"] or ""
        ticket.entries.append(Entry(row["type"], by, row["created"]))
    for row in event_rows:
        ticket = tickets.get(row["ticket_id"])
        if ticket is not None:
            ticket.events.append(Event(row["name"], row["username"] or "", row["timestamp"], row["data"]))
    return list(tickets.values())
