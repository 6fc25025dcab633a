"""Remove one run's tickets from osTicket, leaving every other ticket alone.

Through the database, in one transaction, touching the tables osTicket's own ``Ticket::delete()`` touches
(include/class.ticket.php and class.thread.php of osTicket 1.18.1): the ticket row; its thread (``Thread::
delete``: the thread row, its entries, their attachments, collaborators and referrals, the e-mail headers of its
entries set to NULL, its events kept with ``thread_id`` 0) and a ``deleted`` event like the one osTicket logs;
the ticket's form entries and their values (``DynamicFormEntry::forTicket``); its drafts (namespace
``ticket.%.<id>``); its ``ticket__cdata`` row. The staff panel's mass delete would do the same, but osTicket
lets an agent delete only in departments it can access, which the admin of a fresh install cannot do for
the seeded departments. Merged tickets (osTicket re-links their parent or children) are refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automation.errors import DatabaseError
from automation.instance import Instance
from automation.osticket import db, runfield
from automation.osticket.schema import Tables
from automation.scenarios.facts import TAG_PATTERN, run_key, run_like


@dataclass(frozen=True)
class RunTicket:
    ticket_id: int
    number: str
    key: str
    thread_id: int | None


_SELECT = """SELECT tk.ticket_id, tk.number, tk.ticket_pid, cd.subject, th.id AS thread_id, {mark} AS run_mark
              FROM {ticket} tk LEFT JOIN {cdata} cd ON cd.ticket_id = tk.ticket_id
              LEFT JOIN {thread} th ON th.object_type = 'T' AND th.object_id = tk.ticket_id
              WHERE {where} ORDER BY tk.ticket_id"""


def _select(cur: Any, t: Tables, where: str, args: list[Any]) -> list[dict[str, Any]]:
    cur.execute(_SELECT.format(mark=runfield.column(t), ticket=t.ticket, cdata=t.ticket__cdata, thread=t.thread,
                               where=where), args)
    return list(cur.fetchall())


def _merged(row: dict[str, Any], run_id: str | None = None) -> DatabaseError:
    return DatabaseError(f"{f'run {run_id}: ' if run_id else ''}ticket #{row['number']} is merged into another "
                         "ticket; delete it in the staff panel, which re-links its parent")


def run_tickets(conn: Any, t: Tables, run_id: str) -> list[RunTicket]:
    """The tickets of this run (and only this run's): by their run field; for a run made before the field, by
    the tag in their subjects."""
    with db.cursor(conn) as cur:
        marked = sorted(runfield.run_tickets(conn, t, run_id))
        if marked:
            rows = _select(cur, t, f"tk.ticket_id IN {_in(marked)}", list(marked))
        else:
            rows = _select(cur, t, "cd.subject LIKE %s", [run_like(run_id)])
    found = []
    for row in rows:
        key = run_key(run_id, row["run_mark"], row["subject"])
        if key is None:
            continue
        if row["ticket_pid"]:
            raise _merged(row, run_id)
        found.append(RunTicket(int(row["ticket_id"]), str(row["number"]), key,
                               int(row["thread_id"]) if row["thread_id"] else None))
    return found


def every_run_ticket(conn: Any, t: Tables, ticket_ids: set[int] | None = None) -> list[RunTicket]:
    """Every ticket any run left: those with a run field, those whose subject carries a run's tag (runs made
    before the field), and ``ticket_ids`` (the tickets the run records name, found by id whatever they hold)."""
    wanted = set(ticket_ids or set()) | set(runfield.run_tickets(conn, t))
    with db.cursor(conn) as cur:
        rows = _select(cur, t, "cd.subject LIKE %s", ["%[ostops %]%"])
        if wanted:
            ids = sorted(wanted)
            rows += _select(cur, t, f"tk.ticket_id IN {_in(ids)}", ids)
    found: dict[int, RunTicket] = {}
    for row in rows:
        marked = runfield.parse(row["run_mark"])
        match = TAG_PATTERN.search(row["subject"] or "")
        if marked is None and match is None and int(row["ticket_id"]) not in wanted:
            continue
        if row["ticket_pid"]:
            raise _merged(row)
        key = marked[1] if marked else match.group("key") if match else ""
        found[int(row["ticket_id"])] = RunTicket(int(row["ticket_id"]), str(row["number"]), key,
                                                 int(row["thread_id"]) if row["thread_id"] else None)
    return [found[i] for i in sorted(found)]


def _in(ids: list[int]) -> str:
    return "(" + ", ".join(["%s"] * len(ids)) + ")"


def delete_tickets(conn: Any, t: Tables, tickets: list[RunTicket]) -> None:
    """Delete these tickets as ``Ticket::delete()`` does, in the caller's transaction."""
    ids = [ticket.ticket_id for ticket in tickets]
    threads = [ticket.thread_id for ticket in tickets if ticket.thread_id is not None]
    with db.cursor(conn) as cur:
        if threads:
            of_threads = _in(threads)
            cur.execute(f"SELECT id FROM {t.thread_entry} WHERE thread_id IN {of_threads}", threads)
            entries = [int(row["id"]) for row in cur.fetchall()]
            if entries:
                cur.execute(f"UPDATE {t.thread_entry_email} SET headers = NULL "
                            f"WHERE thread_entry_id IN {_in(entries)}", entries)
                cur.execute(f"DELETE FROM {t.attachment} WHERE type = 'H' AND object_id IN {_in(entries)}",
                            entries)
            cur.execute(f"DELETE FROM {t.thread_collaborator} WHERE thread_id IN {of_threads}", threads)
            cur.execute(f"DELETE FROM {t.thread_referral} WHERE thread_id IN {of_threads}", threads)
            cur.execute(f"DELETE FROM {t.thread_entry} WHERE thread_id IN {of_threads}", threads)
            cur.execute(f"UPDATE {t.thread_event} SET thread_id = 0 WHERE thread_id IN {of_threads}", threads)
            cur.execute(f"DELETE FROM {t.thread} WHERE id IN {of_threads}", threads)
            # osTicket then logs the deletion on the (now deleted) thread, with the ticket's last state.
            for ticket in tickets:
                if ticket.thread_id is None:
                    continue
                cur.execute(f"""INSERT INTO {t.thread_event} (thread_id, thread_type, event_id, staff_id,
                                       team_id, dept_id, topic_id, username, uid_type, annulled, timestamp)
                                SELECT %s, 'T', ev.id, 0, tk.team_id, tk.dept_id, tk.topic_id, 'SYSTEM', 'S', 0,
                                       NOW()
                                FROM {t.ticket} tk JOIN {t.event} ev ON ev.name = 'deleted'
                                WHERE tk.ticket_id = %s""", [ticket.thread_id, ticket.ticket_id])
        of_tickets = _in(ids)
        cur.execute(f"""DELETE v FROM {t.form_entry_values} v JOIN {t.form_entry} e ON e.id = v.entry_id
                        WHERE e.object_type = 'T' AND e.object_id IN {of_tickets}""", ids)
        cur.execute(f"DELETE FROM {t.form_entry} WHERE object_type = 'T' AND object_id IN {of_tickets}", ids)
        for ticket_id in ids:
            cur.execute(f"DELETE FROM {t.draft} WHERE namespace LIKE %s", [f"ticket.%.{ticket_id}"])
        cur.execute(f"DELETE FROM {t.ticket__cdata} WHERE ticket_id IN {of_tickets}", ids)
        cur.execute(f"DELETE FROM {t.ticket} WHERE ticket_id IN {of_tickets}", ids)


def find_run_tickets(instance: Instance, run_id: str) -> list[RunTicket]:
    conn = db.connect(instance)
    try:
        return run_tickets(conn, Tables(instance.db.table_prefix), run_id)
    finally:
        conn.close()


def find_every_run_ticket(instance: Instance, ticket_ids: set[int]) -> list[RunTicket]:
    conn = db.connect(instance)
    try:
        return every_run_ticket(conn, Tables(instance.db.table_prefix), ticket_ids)
    finally:
        conn.close()


def _purge(instance: Instance, find: Callable[[Any, Tables], list[RunTicket]]) -> list[RunTicket]:
    """Delete the tickets ``find`` names in one transaction; returns them (nothing when none was found)."""
    conn = db.connect(instance, autocommit=False)
    t = Tables(instance.db.table_prefix)
    try:
        tickets = find(conn, t)
        if tickets:
            delete_tickets(conn, t, tickets)
        conn.commit()
        return tickets
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()


def purge_every_run(instance: Instance, ticket_ids: set[int]) -> list[RunTicket]:
    """Delete every run's tickets (`every_run_ticket`) in one transaction; other tickets stay."""
    return _purge(instance, lambda conn, t: every_run_ticket(conn, t, ticket_ids))


def purge_run(instance: Instance, run_id: str) -> list[RunTicket]:
    """Delete the run's tickets in one transaction; returns what was deleted (nothing when none was found)."""
    return _purge(instance, lambda conn, t: run_tickets(conn, t, run_id))
