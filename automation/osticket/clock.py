"""A rehearsal time machine: one ticket's clock moved into the past, so that SLAs run out without waiting.

Every timestamp osTicket keeps about the ticket moves by the same amount (the ticket's creation, due dates, last
update, reopen and close times; its thread, thread entries and events; its form entries), so durations between
them stay as they were and only "now" is later. Nothing else is touched: other tickets, the help desk's settings,
the database clock. Afterwards osTicket's cron marks what became overdue (``Ticket::checkOverdue``)."""

from __future__ import annotations

from typing import Any

from automation.errors import DatabaseError
from automation.osticket.db import cursor
from automation.osticket.schema import Tables

# NULLs stay NULL; zero dates stay zero.
_TICKET_COLUMNS = ("created", "updated", "lastupdate", "duedate", "est_duedate", "reopened", "closed")


def _shift(columns: tuple[str, ...]) -> str:
    # osTicket leaves some NOT NULL columns at the zero date (e.g. an entry never edited): they stay as they are.
    return ", ".join(f"`{c}` = IF(YEAR(`{c}`) > 0, `{c}` - INTERVAL %(seconds)s SECOND, `{c}`)" for c in columns)


def shift_ticket(conn: Any, t: Tables, ticket_id: int, seconds: int) -> None:
    """Move ticket ``ticket_id``'s timestamps ``seconds`` into the past, in one transaction."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    args = {"seconds": int(seconds), "ticket": int(ticket_id)}
    of_ticket = "object_type = 'T' AND object_id = %(ticket)s"
    thread = f"(SELECT id FROM {t.thread} WHERE object_type = 'T' AND object_id = %(ticket)s)"
    statements = [
        f"UPDATE {t.ticket} SET {_shift(_TICKET_COLUMNS)} WHERE ticket_id = %(ticket)s",
        f"UPDATE {t.thread_entry} SET {_shift(('created', 'updated'))} WHERE thread_id IN {thread}",
        f"UPDATE {t.thread_event} SET {_shift(('timestamp',))} WHERE thread_id IN {thread}",
        f"UPDATE {t.thread} SET {_shift(('created', 'lastresponse', 'lastmessage'))} WHERE {of_ticket}",
        f"UPDATE {t.form_entry} SET {_shift(('created', 'updated'))} WHERE {of_ticket}",
    ]
    try:
        conn.begin()
        with cursor(conn) as cur:
            for sql in statements:
                cur.execute(sql, args)
        conn.commit()
    except Exception as exc:
        conn.rollback()
        raise DatabaseError(f"moving ticket {ticket_id}'s clock back: {exc}") from exc
