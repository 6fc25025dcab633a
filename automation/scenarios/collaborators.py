"""What the staff panel's "Add a collaborator" needs from the database: the ticket's thread and the user
already known by that e-mail (osTicket refuses a second user with the same address)."""

from __future__ import annotations

from typing import Any

from automation.errors import StepError
from automation.osticket import db
from automation.osticket.schema import Tables


def lookup(conn: Any, t: Tables, ticket_id: int, email: str) -> tuple[int, int | None]:
    """(the ticket's thread id, the id of the user with this e-mail or None)."""
    with db.cursor(conn) as cur:
        cur.execute(f"SELECT id FROM {t.thread} WHERE object_type = 'T' AND object_id = %s", (ticket_id,))
        thread = cur.fetchone()
        cur.execute(f"SELECT user_id FROM {t.user_email} WHERE address = %s", (email,))
        user = cur.fetchone()
    if thread is None:
        raise StepError(f"ticket {ticket_id} has no thread in osTicket")
    return int(thread["id"]), int(user["user_id"]) if user else None
