"""After a load run, whatever happened to it: every ticket of the run's id range that is the run's (its run field,
or the subject tag of a run made before the field) or has no subject at all: written half-way) that the run was not answered for is named, as `verify.unconfirmed_line` names it.

The database may be down when the run ends (MariaDB killed mid-run): it is asked again, a bounded number of
times within a bounded wait, and when it never answers the result says so and how to reconcile later."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from automation.errors import OsTicketError
from automation.osticket import db, runfield
from automation.scenarios.facts import read_run, run_key
from automation.scenarios.verify import unconfirmed_line

ATTEMPTS = 10
WAIT_SECONDS = 30.0  # in all, across the attempts
DETAILED = 50  # unconfirmed tickets read in full (what they lack); any more are named by number only


def unconfirmed_in_range(conn: Any, t: db.Tables, run_id: str, id_range: tuple[int, int],
                         confirmed: Collection[str]) -> list[str]:
    """One line per ticket of (first, last] that is the run's but not among the ``confirmed`` numbers."""
    with db.cursor(conn) as cur:
        cur.execute(f"""SELECT tk.ticket_id, tk.number, cd.subject, {runfield.column(t)} AS run_mark FROM {t.ticket} tk
                        LEFT JOIN {t.ticket__cdata} cd ON cd.ticket_id = tk.ticket_id
                        WHERE tk.ticket_id > %s AND tk.ticket_id <= %s ORDER BY tk.ticket_id""", list(id_range))
        rows = cur.fetchall()
    stray = []
    for row in rows:
        ours = row["subject"] is None or run_key(run_id, row["run_mark"], row["subject"]) is not None
        if ours and str(row["number"]) not in confirmed:
            stray.append(row)
    lines = []
    for row in stray[:DETAILED]:
        ticket_id = int(row["ticket_id"])
        facts = read_run(conn, t, run_id, (ticket_id - 1, ticket_id), [ticket_id])
        lines += [unconfirmed_line(f) for f in facts]
    lines += [f"ticket ?: created but not confirmed: #{row['number']}" for row in stray[DETAILED:]]
    return lines


def reconcile(connect: Callable[[], Any], t: db.Tables, run_id: str, after_ticket_id: int,
              confirmed: Collection[str], attempts: int = ATTEMPTS,
              wait: float = WAIT_SECONDS) -> tuple[tuple[int, int] | None, list[str]]:
    """The run's id range and its unconfirmed tickets, on a new connection; at most ``attempts`` tries within
    ``wait`` seconds. When the database never answers, the range is None and the one line says why."""
    deadline = time.monotonic() + wait
    last: OsTicketError | None = None
    for attempt in range(attempts):
        if attempt:
            pause = min(wait / attempts, deadline - time.monotonic())
            if pause <= 0:
                break
            time.sleep(pause)
        try:
            conn = connect()
        except OsTicketError as exc:
            last = exc
            continue
        try:
            id_range = (after_ticket_id, db.last_ticket_id(conn, t))
            return id_range, unconfirmed_in_range(conn, t, run_id, id_range, confirmed)
        except OsTicketError as exc:
            last = exc
        finally:
            conn.close()
    return None, [(f"not reconciled: {last}; tickets of this run may exist unnamed: `ostops report --run {run_id}` "
                  "names them once the database answers")]
