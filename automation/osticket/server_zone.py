"""The database server's clock and time zone, in which osTicket's ticket times are stored.

osTicket writes its DATETIME columns with the database's ``NOW()`` and sets no session time zone (its
``db_timezone()`` in include/mysqli.php reads ``@@global.time_zone``, and ``@@system_time_zone`` when that is
``SYSTEM``); ostops' connections set none either, so they see the same clock osTicket wrote with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from automation.osticket.db import cursor


@dataclass(frozen=True)
class ServerZone:
    offset: dt.timedelta  # the database's NOW() minus UTC_TIMESTAMP(), when it was read
    name: str  # as the server names it: "SYSTEM (UTC)", "+02:00", "Europe/Paris"

    @property
    def tzinfo(self) -> dt.timezone:
        return dt.timezone(self.offset)

    @property
    def label(self) -> str:
        """``UTC+02:00``: the offset, which is what a reader needs to compare times."""
        minutes = int(self.offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def sentence(self) -> str:
        return (f"Times are the database server's clock, {self.label} (its time zone: {self.name}), "
                "in which osTicket stores them.")

    def aware(self, value: dt.datetime) -> dt.datetime:
        """A naive time read from osTicket's tables, with this zone's offset attached."""
        return value.replace(tzinfo=self.tzinfo) if value.tzinfo is None else value


UTC = ServerZone(dt.timedelta(0), "UTC")


def server_clock(conn: Any) -> tuple[dt.datetime, ServerZone]:
    """The server's ``NOW()`` (naive, as osTicket's columns) and its zone, read in one statement."""
    with cursor(conn) as cur:
        cur.execute("SELECT NOW() AS now, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()) AS offset_s, "
                    "@@session.time_zone AS tz, @@system_time_zone AS system_tz")
        row = cur.fetchone()
    # NOW() and UTC_TIMESTAMP() are taken at the statement's start, so the difference is exact to the second;
    # offsets are whole minutes.
    offset = dt.timedelta(minutes=round(int(row["offset_s"]) / 60))
    name = f"SYSTEM ({row['system_tz']})" if row["tz"] == "SYSTEM" else str(row["tz"])
    return row["now"], ServerZone(offset, name)
