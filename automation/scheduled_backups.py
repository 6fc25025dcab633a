"""The nightly backup an Azure VM makes by itself, as ``ostops instance status`` sees it.

The bootstrap's scheduled task (its ``backup`` mode, settings ``backup``: container URL, schedule, retention)
writes one row per attempt into ``ostops_ops.backup_log``, a schema of ostops's own beside osTicket's database;
the status reads it over the instance's existing (on Azure TLS-pinned) connection as the application user, to
whom the bootstrap grants SELECT on that table. ``verdict`` is the pure part: the newest finished attempt, the
newest success and the database server's own clock give one line and healthy or not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

SCHEMA = "ostops_ops"
TABLE = f"{SCHEMA}.backup_log"
# The contract's table (the bootstrap creates it; tests/e2e creates it the same way on a local MariaDB).
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, started_utc DATETIME, "
    "finished_utc DATETIME NULL, ok TINYINT, blob_name VARCHAR(255), bytes BIGINT, sha256 CHAR(64), "
    "message VARCHAR(1000))"
)
# A nightly backup: a day plus two hours for a late or slow run, then the last success is stale.
STALE_AFTER = dt.timedelta(hours=26)
# MariaDB's error numbers for what "not set up" looks like to the application user: ER_NO_SUCH_TABLE,
# ER_BAD_DB_ERROR, and ER_TABLEACCESS_DENIED_ERROR / ER_DBACCESS_DENIED_ERROR, which MariaDB also answers for
# a table that does not exist when the user holds no privilege on it.
NO_SUCH_TABLE = frozenset({1146, 1049})
ACCESS_DENIED = frozenset({1142, 1044})


@dataclass(frozen=True)
class Attempt:
    started_utc: dt.datetime
    finished_utc: dt.datetime | None
    ok: bool
    blob_name: str | None
    size_bytes: int | None
    message: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> Attempt | None:
        if row is None:
            return None
        return cls(row["started_utc"], row["finished_utc"], bool(row["ok"]), row["blob_name"], row["bytes"],
                   row["message"])


def age(since: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h ago"
    if hours:
        return f"{hours} h {minutes} min ago"
    return f"{minutes} min ago"


def size(count: int | None) -> str:
    if count is None:
        return "size not recorded"
    value = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def describe(success: Attempt, now: dt.datetime) -> str:
    finished = success.finished_utc or success.started_utc
    return (f"last backup: {when(finished)} ({age(finished, now)}), {size(success.size_bytes)}, "
            f"{success.blob_name or 'blob not recorded'}")


def verdict(
    last_finished: Attempt | None,
    last_success: Attempt | None,
    running: Attempt | None,
    now: dt.datetime,
    set_up_utc: dt.datetime | None,
) -> tuple[bool, str]:
    """Healthy or not, and the line to show. ``now`` and every time are the database server's UTC."""
    still = f"; a backup has been running since {when(running.started_utc)}" if running is not None else ""
    if last_finished is not None and not last_finished.ok:
        at = last_finished.finished_utc or last_finished.started_utc
        before = (describe(last_success, now) if last_success is not None else "no backup has succeeded yet")
        reason = (last_finished.message or "").strip() or "the task recorded no message"
        return False, f"last attempt failed at {when(at)} ({age(at, now)}): {reason}; {before}{still}"
    if last_success is None:
        if set_up_utc is not None and now - set_up_utc > STALE_AFTER:
            return False, (f"no backup recorded in the {age(set_up_utc, now).removesuffix(' ago')} since scheduled "
                           f"backups were set up ({when(set_up_utc)}): is the VM's scheduled task running?{still}")
        since = f" (set up {when(set_up_utc)})" if set_up_utc is not None else ""
        return True, f"no backup recorded yet{since}: the first runs at the next scheduled time{still}"
    finished = last_success.finished_utc or last_success.started_utc
    if now - finished > STALE_AFTER:
        hours = int(STALE_AFTER.total_seconds() // 3600)
        return False, f"{describe(last_success, now)}: older than {hours} h, the nightly backup is not running{still}"
    return True, describe(last_success, now) + still


def read(cur: Any) -> tuple[bool, str]:
    """The verdict from ``ostops_ops.backup_log`` through an open cursor (DictCursor). Database errors propagate
    (``check`` words them)."""
    cur.execute("SELECT UTC_TIMESTAMP() AS now_utc, "
                "TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()) AS offset_seconds")
    clock = cur.fetchone()
    columns = "started_utc, finished_utc, ok, blob_name, bytes, message"
    cur.execute(f"SELECT {columns} FROM {TABLE} WHERE finished_utc IS NOT NULL ORDER BY id DESC LIMIT 1")
    last_finished = Attempt.from_row(cur.fetchone())
    cur.execute(f"SELECT {columns} FROM {TABLE} WHERE ok = 1 AND finished_utc IS NOT NULL ORDER BY id DESC LIMIT 1")
    last_success = Attempt.from_row(cur.fetchone())
    cur.execute(f"SELECT {columns} FROM {TABLE} ORDER BY id DESC LIMIT 1")
    newest = Attempt.from_row(cur.fetchone())
    running = newest if newest is not None and newest.finished_utc is None else None
    # information_schema gives the table's creation in the server's time zone; NOW() - UTC_TIMESTAMP() is its offset.
    cur.execute("SELECT CREATE_TIME AS created FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s", (SCHEMA, TABLE.split(".", 1)[1]))
    created = cur.fetchone()
    set_up = (created["created"] - dt.timedelta(seconds=int(clock["offset_seconds"]))
              if created and created["created"] else None)
    return verdict(last_finished, last_success, running, clock["now_utc"], set_up)


def problem(exc: BaseException, user: str) -> str:
    """What a failed read of the table means, from MariaDB's error number (the pymysql error is the cause)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    code = cause.args[0] if cause.args and isinstance(cause.args[0], int) else None
    said = cause.args[-1] if cause.args else str(exc)
    if code in NO_SUCH_TABLE:
        return (f"scheduled backups not set up: {TABLE} does not exist (the VM's bootstrap creates it with the "
                "nightly backup task; run `pulumi up` with this ostops, then `ostops instance from-stack`)")
    if code in ACCESS_DENIED:
        return (f"scheduled backups not set up, or {user} may not read {TABLE} (MariaDB: {said}); the bootstrap "
                "grants SELECT on it to the application user")
    return f"{TABLE} could not be read: {said}"
