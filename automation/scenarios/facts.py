"""What osTicket's database says about one run: six batched queries, whatever the number of tickets.

A run whose record keeps its ticket ids and id range is read by primary key, so the cost does not grow with the
help desk. A ticket is the run's by its run field (`automation.osticket.runfield`: ``<run> <key>`` in a hidden
field of the ticket form), which also finds the run's tickets when its record is lost; the subject tag
(``[ostops <run> <key>]``, which runs made before the field carry, and ``run --tag-subjects`` still adds) is
the fallback for a ticket without the field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.osticket import runfield
from automation.osticket.db import cursor
from automation.osticket.directory import department_paths
from automation.osticket.schema import ENTRY_SYSTEM, Tables
from automation.osticket.text import shown
from automation.scenarios import participants
from automation.scenarios.participants import Attached, Collaborator

TAG_PATTERN = re.compile(r"\[ostops (?P<run>[A-Za-z0-9-]+) (?P<key>[a-z0-9-]+)\]\s*$")


def run_tag(run_id: str, key: str) -> str:
    return f"[ostops {run_id} {key}]"


def run_key(run_id: str, mark: str | None, subject: str | None) -> str | None:
    """The ticket's key in run ``run_id``, or None when the ticket is not the run's: by its run field when it
    has one (a field naming another run wins over any subject), else by the subject's tag."""
    marked = runfield.parse(mark)
    if marked is not None:
        return marked[1] if marked[0] == run_id else None
    match = TAG_PATTERN.search(subject or "")
    return match.group("key") if match is not None and match.group("run") == run_id else None


@dataclass
class Entry:
    type: str  # M message, R response, N note
    by: str  # agent username, "requester", or the poster's name
    created: dt.datetime
    id: int = 0
    title: str = ""  # as a reader sees it (`automation.osticket.text.shown`)
    text: str = ""  # the body as a reader sees it (`shown`)
    staff_id: int = 0
    user_id: int = 0
    system: bool = False  # osTicket's own entry (a note it logs itself, poster 'SYSTEM'): no agent, no user
    stored_title: str = ""  # the title, body and format as osTicket holds them
    body: str = ""
    format: str = "html"

    def author(self) -> str:
        """``note by john.doe``, ``system note``, ``response by jane.doe``, ``message by requester``."""
        kind = {"M": "message", "R": "response", "N": "note"}.get(self.type, self.type)
        return f"system {kind}" if self.system else f"{kind} by {self.by}"


@dataclass
class Event:
    name: str
    username: str
    timestamp: dt.datetime
    data: str | None
    id: int = 0
    annulled: bool = False
    state: str = ""  # who and where the ticket was after the event: "staff|team|dept|topic"


@dataclass(frozen=True)
class SlaDefinition:
    id: int
    name: str
    grace_period: int  # hours
    schedule_id: int
    flags: int


@dataclass
class TicketFacts:
    ticket_id: int
    number: str
    key: str  # "" for a ticket of the run's id range whose subject is missing (written half-way)
    subject: str | None  # as a reader sees it (`shown`), without the run's tag; None when osTicket holds none
    status: str | None  # None: the status is unset (a ticket written half-way)
    state: str | None
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
    events: list[Event] = field(default_factory=list)  # not annulled, in order of (timestamp, id)
    history: list[Event] = field(default_factory=list)  # every event, annulled ones too
    full_subject: str | None = None  # as osTicket holds it, with the tag if it has one
    sla_id: int = 0
    has_thread: bool = True
    has_user: bool = True
    source: str = ""  # API, Web, Email, Phone, Other
    collaborators: list[Collaborator] = field(default_factory=list)
    attachments: list[Attached] = field(default_factory=list)
    department_path: str | None = None  # "Clinical Systems / Network"

    @property
    def incomplete(self) -> list[str]:
        """What a ticket osTicket wrote only half-way lacks (empty for a whole ticket)."""
        return [what for what, lacking in (
            ("no subject", self.subject is None), ("no thread", not self.has_thread),
            ("no message", self.has_thread and not any(e.type == "M" for e in self.entries)),
            ("no created event", self.has_thread and not any(e.name == "created"
                                                             for e in self.history or self.events)),
            ("status unset", self.status is None), ("no user", not self.has_user)) if lacking]

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


def read_slas(conn: Any, t: Tables) -> dict[int, SlaDefinition]:
    """Every SLA's definition (a handful of rows, whatever the help desk's size)."""
    with cursor(conn) as cur:
        cur.execute(f"SELECT id, name, grace_period, schedule_id, flags FROM {t.sla}")
        return {int(r["id"]): SlaDefinition(int(r["id"]), str(r["name"]), int(r["grace_period"]),
                                            int(r["schedule_id"] or 0), int(r["flags"] or 0))
                for r in cur.fetchall()}


def read_run(conn: Any, t: Tables, run_id: str, id_range: tuple[int, int | None] | None = None,
             ticket_ids: Sequence[int] = ()) -> list[TicketFacts]:
    """Every ticket of one run with its thread entries and events, collaborators and files: six queries whatever the run's size.

    With ``id_range`` (the newest ticket id before the run, the newest after it, from the run record) the
    tickets are read by primary key: those of the range carrying the run's tag, those in ``ticket_ids``, and
    those with no subject at all (written half-way: their key is ""). Without it, the run field's values are
    searched for the run (a scan, for a run whose record is lost), and when none names it, the subjects for its
    tag (a run made before the field). An open range (end None, a run stopped while a creation was unanswered)
    reads up to the newest ticket."""
    args: list[Any]
    if id_range is not None and id_range[1] is None:
        where, args = "tk.ticket_id > %s", [id_range[0]]
    elif id_range is not None:
        where, args = "tk.ticket_id > %s AND tk.ticket_id <= %s", [id_range[0], id_range[1]]
    elif marked := sorted(runfield.run_tickets(conn, t, run_id)):
        where, args = f"tk.ticket_id IN ({', '.join(['%s'] * len(marked))})", list(marked)
    else:
        where, args = "cd.subject LIKE %s", [run_like(run_id)]
    with cursor(conn) as cur:
        cur.execute(
            f"""SELECT tk.ticket_id, tk.number, tk.created, tk.closed, tk.isoverdue, tk.user_id, tk.sla_id, tk.source, tk.dept_id,
                       COALESCE(tk.duedate, tk.est_duedate) AS due, cd.subject, {runfield.column(t)} AS run_mark,
                       st.name AS status, st.state, sla.name AS sla, d.name AS department,
                       s.username AS agent, tm.name AS team, tp.topic, pr.priority_desc AS priority,
                       u.id AS user_found, u.name AS requester, ue.address AS requester_email,
                       th.id AS thread_id
                FROM {t.ticket} tk
                LEFT JOIN {t.ticket__cdata} cd ON cd.ticket_id = tk.ticket_id
                LEFT JOIN {t.thread} th ON th.object_type = 'T' AND th.object_id = tk.ticket_id
                LEFT JOIN {t.ticket_status} st ON st.id = tk.status_id
                LEFT JOIN {t.sla} sla ON sla.id = tk.sla_id
                LEFT JOIN {t.department} d ON d.id = tk.dept_id
                LEFT JOIN {t.staff} s ON s.staff_id = tk.staff_id
                LEFT JOIN {t.team} tm ON tm.team_id = tk.team_id
                LEFT JOIN {t.help_topic} tp ON tp.topic_id = tk.topic_id
                LEFT JOIN {t.ticket_priority} pr ON pr.priority_id = cd.priority
                LEFT JOIN {t.user} u ON u.id = tk.user_id
                LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id
                WHERE {where}
                ORDER BY tk.ticket_id""",
            args,
        )
        # LIKE is a coarse filter ("_" and a longer id with the same start); `run_key` decides.
        rows = []
        for row in cur.fetchall():
            key = run_key(run_id, row["run_mark"], row["subject"])
            if key is not None:
                rows.append((row, key))
            elif id_range is not None and (row["subject"] is None or row["ticket_id"] in ticket_ids):
                rows.append((row, ""))
        ids = [row["ticket_id"] for row, _ in rows]
        entry_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        collaborators: dict[int, list[Collaborator]] = {}
        files: dict[int, list[Attached]] = {}
        if ids:
            of_run = f"th.object_type = 'T' AND th.object_id IN ({', '.join(['%s'] * len(ids))})"
            cur.execute(
                f"""SELECT th.object_id AS ticket_id, e.id, e.type, e.staff_id, e.user_id, e.poster, e.title, e.flags,
                           e.body, e.format, e.created, s.username
                    FROM {t.thread} th JOIN {t.thread_entry} e ON e.thread_id = th.id
                    LEFT JOIN {t.staff} s ON s.staff_id = e.staff_id AND e.staff_id > 0
                    WHERE {of_run} ORDER BY e.created, e.id""",
                ids,
            )
            entry_rows = cur.fetchall()
            cur.execute(
                f"""SELECT th.object_id AS ticket_id, te.id, ev.name, te.username, te.timestamp, te.data,
                           te.annulled, CONCAT_WS('|', te.staff_id, te.team_id, te.dept_id, te.topic_id) AS state
                    FROM {t.thread} th JOIN {t.thread_event} te ON te.thread_id = th.id
                    LEFT JOIN {t.event} ev ON ev.id = te.event_id
                    WHERE {of_run} ORDER BY te.timestamp, te.id""",
                ids,
            )
            event_rows = cur.fetchall()
            thread_of = {row["ticket_id"]: row["thread_id"] for row, _ in rows if row["thread_id"] is not None}
            collaborators, files = participants.read(cur, t, sorted(thread_of.values()))

    dept_paths = department_paths(conn, t) if rows else {}
    tickets: dict[int, TicketFacts] = {}
    requester_of: dict[int, int] = {}
    for row, key in rows:
        requester_of[row["ticket_id"]] = row["user_id"]
        subject = row["subject"]
        tickets[row["ticket_id"]] = TicketFacts(
            ticket_id=row["ticket_id"], number=str(row["number"]), key=key,
            subject=None if subject is None else shown(TAG_PATTERN.sub("", subject)), status=row["status"],
            state=row["state"], sla=row["sla"], department=row["department"], agent=row["agent"], team=row["team"],
            topic=row["topic"], priority=row["priority"], requester=row["requester"] or "",
            requester_email=row["requester_email"] or "", overdue=bool(row["isoverdue"]), created=row["created"],
            closed=row["closed"], due=row["due"], full_subject=subject, sla_id=int(row["sla_id"] or 0),
            has_thread=row["thread_id"] is not None, has_user=row["user_found"] is not None,
            source=str(row["source"] or ""), department_path=dept_paths.get(int(row["dept_id"] or 0)),
            collaborators=collaborators.get(row["thread_id"], []),
            attachments=files.get(row["thread_id"], []),
        )
    for row in entry_rows:
        ticket = tickets.get(row["ticket_id"])
        if ticket is None:
            continue
        if row["type"] == "M" and row["user_id"] == requester_of[ticket.ticket_id]:
            by = "requester"
        else:
            by = row["username"] or row["poster"] or ""
        fmt = "text" if row["format"] == "text" else "html"
        ticket.entries.append(Entry(row["type"], by, row["created"], int(row["id"]), shown(row["title"]),
                                    shown(row["body"], fmt), int(row["staff_id"] or 0), int(row["user_id"] or 0),
                                    bool(int(row["flags"] or 0) & ENTRY_SYSTEM)
                                    or (not row["staff_id"] and not row["user_id"]),
                                    row["title"] or "", row["body"] or "", fmt))
    for row in event_rows:
        ticket = tickets.get(row["ticket_id"])
        if ticket is not None:
            event = Event(row["name"] or "", row["username"] or "", row["timestamp"], row["data"], int(row["id"]),
                          bool(row["annulled"]), row["state"] or "")
            ticket.history.append(event)
            if not event.annulled:
                ticket.events.append(event)
    return list(tickets.values())
