"""Connections to osTicket's own database (pymysql), with timeouts and the instance's table prefix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pymysql.cursors

from automation.errors import DatabaseError
from automation.instance import Instance
from automation.osticket.schema import Tables

__all__ = ["DatabaseError", "Tables", "connect", "cursor", "last_ticket_id", "server_now"]

CONNECT_TIMEOUT = 5  # TCP connect, the server's greeting and the login, together (a frozen server: this long)
QUERY_TIMEOUT = 60  # each read or write of a statement, once connected


def connect(instance: Instance, autocommit: bool = True) -> pymysql.connections.Connection:
    import ssl

    db = instance.db
    try:
        # pymysql's connect_timeout bounds only the TCP connect; the greeting and the login are reads under
        # read_timeout (PyMySQL 2.2.8 as installed, connections.py Connection.connect: sock.settimeout(self._read_timeout)
        # before _get_server_information). So the handshake reads under CONNECT_TIMEOUT, and statements under
        # QUERY_TIMEOUT from then on (_read_packet resets the socket's timeout when _read_timeout changes).
        conn: Any = pymysql.connect(
            host=db.host, port=db.port, user=db.user, password=db.password.get_secret_value(),
            database=db.name, charset="utf8mb4", autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT, read_timeout=CONNECT_TIMEOUT, write_timeout=CONNECT_TIMEOUT,
            cursorclass=pymysql.cursors.DictCursor, ssl=_tls(instance),
        )
        conn._read_timeout = conn._write_timeout = QUERY_TIMEOUT
        return conn
    except pymysql.MySQLError as exc:
        if "timed out" in str(exc.args[-1]):
            raise DatabaseError(f"osTicket's database at {db.host}:{db.port} accepted the connection but did not "
                                f"answer within {CONNECT_TIMEOUT} s: the server is frozen or overloaded (a stopped "
                                "mariadbd, say)") from exc
        raise DatabaseError(f"cannot connect to osTicket's database at {db.host}:{db.port}/{db.name} as "
                            f"{db.user}: {exc.args[-1]}") from exc
    except ssl.SSLError as exc:  # pymysql builds the TLS context before it connects; a bad CA file fails here
        where = f"the CA file {db.ssl_ca}" if db.ssl_ca else "the system's CA certificates"
        reason = getattr(exc, "reason", None) or exc
        raise DatabaseError(f"cannot connect to osTicket's database at {db.host}:{db.port}: TLS cannot use "
                            f"{where} ({reason}); fix db.ssl_ca in the instance file "
                            "(or rerun `ostops instance from-stack --db-ca PEM`)") from exc
    except OSError as exc:  # e.g. the CA file was moved or is unreadable; pymysql wraps socket errors itself
        name = exc.filename or db.ssl_ca
        hint = "; check db.ssl_ca in the instance file" if db.ssl_ca else ""
        raise DatabaseError(f"cannot connect to osTicket's database at {db.host}:{db.port}: "
                            f"{exc.strerror or type(exc).__name__}{f': {name}' if name else ''}{hint}") from exc


def _tls(instance: Instance) -> dict[str, Any] | None:
    db = instance.db
    if not db.ssl:
        return None
    if db.ssl_ca:
        return {"ca": db.ssl_ca, "check_hostname": True}
    return {"ca": None}  # encrypted, server not authenticated (see `ostops instance from-stack --db-ca`)


@contextmanager
def cursor(conn: pymysql.connections.Connection) -> Iterator[Any]:
    try:
        with conn.cursor() as cur:
            yield cur
    except pymysql.MySQLError as exc:
        raise DatabaseError(f"osTicket's database refused a statement: {exc.args[-1]}") from exc


def server_now(conn: pymysql.connections.Connection) -> Any:
    """The database server's clock: ticket times are in its time zone, so compare with this, not ours."""
    with cursor(conn) as cur:
        cur.execute("SELECT NOW() AS now")
        return cur.fetchone()["now"]


def last_ticket_id(conn: pymysql.connections.Connection, t: Tables) -> int:
    """The newest ticket's id (0 for an empty help desk): every ticket created after this call has a larger one."""
    with cursor(conn) as cur:
        cur.execute(f"SELECT COALESCE(MAX(ticket_id), 0) AS id FROM {t.ticket}")
        return int(cur.fetchone()["id"])


def ticket_ids(conn: pymysql.connections.Connection, t: Tables, numbers: list[str], above_id: int = 0) -> dict[str, int]:
    """Ticket number → ticket id for these numbers, looked for above ``above_id`` (``number`` has no index:
    the primary key bounds the scan)."""
    if not numbers:
        return {}
    with cursor(conn) as cur:
        cur.execute(f"SELECT number, ticket_id FROM {t.ticket} WHERE ticket_id > %s AND number IN "
                    f"({', '.join(['%s'] * len(numbers))})", [above_id, *numbers])
        return {str(row["number"]): int(row["ticket_id"]) for row in cur.fetchall()}


def ticket_status(conn: pymysql.connections.Connection, t: Tables, ticket_id: int) -> tuple[str, str] | None:
    """A ticket's status name and its state (``open``, ``closed``…), or None when it has no status."""
    with cursor(conn) as cur:
        cur.execute(f"SELECT s.name, s.state FROM {t.ticket} tk JOIN {t.ticket_status} s ON s.id = tk.status_id "
                    "WHERE tk.ticket_id = %s", [ticket_id])
        row = cur.fetchone()
    return None if row is None else (str(row["name"]), str(row["state"]))
