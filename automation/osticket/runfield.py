"""The run field: a hidden text field of osTicket's Ticket Details form that holds ``<run id> <ticket key>`` for
every ticket a run opens, so that subjects stay as the learner wrote them and a run's tickets are found without
its record (`automation.osticket.schema` says which field and why it is hidden from requesters and agents).

How each channel fills it: the ticket API takes it by name in the JSON, and osTicket writes it with the ticket.
The Support Center's form does not show it (a requester cannot fill it in), and a mail carries no form field, so
for those the run writes it itself right after osTicket made the ticket (`claim`), as osTicket would for an answer:
the row in ``form_entry_values`` and the column in ``ticket__cdata``."""

from __future__ import annotations

from typing import Any

from automation.osticket.db import cursor
from automation.osticket.schema import (
    CDATA_COLUMN_TYPE,
    FORM_ENTRY_TICKET,
    RUN_FIELD_CONFIGURATION,
    RUN_FIELD_FLAGS,
    RUN_FIELD_HINT,
    RUN_FIELD_LABEL,
    RUN_FIELD_NAME,
    RUN_FIELD_TYPE,
    TICKET_FORM_TYPE,
    Tables,
)

NAME = RUN_FIELD_NAME


def mark(run_id: str, key: str) -> str:
    return f"{run_id} {key}"


def parse(value: str | None) -> tuple[str, str] | None:
    """``(run id, key)`` of a field's value; None for an empty or foreign one."""
    run, _, key = (value or "").strip().partition(" ")
    return (run, key) if run and key and " " not in key else None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ensure(conn: Any, t: Tables) -> bool:
    """Add the field to the Ticket Details form and its column to ``ticket__cdata`` when missing; True when
    anything was added. Commits (the column is DDL, which MariaDB commits implicitly anyway)."""
    added = False
    with cursor(conn) as cur:
        cur.execute(f"""INSERT INTO {t.form_field} (form_id, flags, type, label, name, configuration, sort, hint,
                                                   created, updated)
                        SELECT fm.id, %s, %s, %s, %s, %s,
                               (SELECT COALESCE(MAX(ff.sort), 0) + 1 FROM {t.form_field} ff WHERE ff.form_id = fm.id),
                               %s, NOW(), NOW()
                        FROM {t.form} fm
                        WHERE fm.type = %s AND NOT EXISTS (SELECT 1 FROM {t.form_field} f
                                                           WHERE f.form_id = fm.id AND f.name = %s)
                        ORDER BY fm.id LIMIT 1""",
                    [RUN_FIELD_FLAGS, RUN_FIELD_TYPE, RUN_FIELD_LABEL, NAME, RUN_FIELD_CONFIGURATION, RUN_FIELD_HINT,
                     TICKET_FORM_TYPE, NAME])
        added = cur.rowcount > 0
        conn.commit()
        cdata = t.ticket__cdata.strip("`")
        cur.execute("""SELECT
                         (SELECT COUNT(*) FROM information_schema.TABLES
                          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s) AS has_table,
                         (SELECT COUNT(*) FROM information_schema.COLUMNS
                          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s) AS has_column""",
                    [cdata, cdata, NAME])
        row = cur.fetchone()
        # Without the table osTicket builds it from the form's fields when it next needs it, this one included.
        if row["has_table"] and not row["has_column"]:
            cur.execute(f"ALTER TABLE {t.ticket__cdata} ADD COLUMN IF NOT EXISTS `{NAME}` {CDATA_COLUMN_TYPE} "
                        "DEFAULT NULL")
            added = True
    return added


def claim(conn: Any, t: Tables, ticket_id: int, value: str) -> bool:
    """Write ``value`` into the ticket's run field unless it holds one already; True when this call wrote it.
    One statement decides (another run's claim of the same ticket either came first or finds it taken)."""
    with cursor(conn) as cur:
        cur.execute(f"""UPDATE {t.form_entry_values} v JOIN {t.form_entry} e ON e.id = v.entry_id
                        JOIN {t.form_field} f ON f.id = v.field_id AND f.form_id = e.form_id
                        SET v.value = %s
                        WHERE e.object_type = %s AND e.object_id = %s AND f.name = %s
                          AND (v.value IS NULL OR v.value = '')""",
                    [value, FORM_ENTRY_TICKET, ticket_id, NAME])
        won = cur.rowcount > 0
        if not won:  # a ticket whose entry has no row for the field (made before the field was)
            cur.execute(f"""INSERT IGNORE INTO {t.form_entry_values} (entry_id, field_id, value)
                            SELECT e.id, f.id, %s FROM {t.form_entry} e
                            JOIN {t.form_field} f ON f.form_id = e.form_id AND f.name = %s
                            WHERE e.object_type = %s AND e.object_id = %s""",
                        [value, NAME, FORM_ENTRY_TICKET, ticket_id])
            won = cur.rowcount > 0
        if won:
            cur.execute(f"UPDATE {t.ticket__cdata} SET `{NAME}` = %s WHERE ticket_id = %s", [value, ticket_id])
        return won


def column(t: Tables, ticket: str = "tk.ticket_id") -> str:
    """A SELECT expression: the run field's value of the ticket ``ticket`` names (NULL without one); read by the
    ticket's form entries' index, so it costs a lookup a ticket."""
    return (f"""(SELECT v.value FROM {t.form_entry} e JOIN {t.form_entry_values} v ON v.entry_id = e.id
                 JOIN {t.form_field} f ON f.id = v.field_id
                 WHERE e.object_type = '{FORM_ENTRY_TICKET}' AND e.object_id = {ticket} AND f.name = '{NAME}'
                   AND v.value <> '' LIMIT 1)""")


def _has_column(cur: Any, t: Tables) -> bool:
    cur.execute("""SELECT COUNT(*) AS n FROM information_schema.COLUMNS
                   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s""",
                [t.ticket__cdata.strip("`"), NAME])
    return bool(cur.fetchone()["n"])


def run_tickets(conn: Any, t: Tables, run_id: str | None = None) -> dict[int, str]:
    """ticket id -> the run field's value, for every ticket of ``run_id`` (of any run when None), for a run whose
    record is lost: a scan of the field's column in ``ticket__cdata`` (one row a ticket), or, on a help desk
    whose cdata table lacks it, of the field's answers in ``form_entry_values``."""
    pattern = _like(mark(run_id, "")) + "%" if run_id else "_%"
    with cursor(conn) as cur:
        if _has_column(cur, t):
            cur.execute(f"SELECT ticket_id, `{NAME}` AS value FROM {t.ticket__cdata} WHERE `{NAME}` LIKE %s",
                        [pattern])
        else:
            cur.execute(f"""SELECT e.object_id AS ticket_id, v.value FROM {t.form_field} f
                            JOIN {t.form_entry_values} v ON v.field_id = f.id
                            JOIN {t.form_entry} e ON e.id = v.entry_id
                            WHERE f.name = %s AND e.object_type = %s AND v.value LIKE %s""",
                        [NAME, FORM_ENTRY_TICKET, pattern])
        found = {}
        for row in cur.fetchall():
            parsed = parse(row["value"])
            if parsed is not None and (run_id is None or parsed[0] == run_id):
                found[int(row["ticket_id"])] = str(row["value"])
        return found
