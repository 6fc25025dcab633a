"""Connections to osTicket's own database (pymysql), with timeouts and the instance's table prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pymysql.cursors

from automation.errors import DatabaseError, DatabaseNotAnswering
from automation.instance import Instance
from automation.osticket.schema import Tables

__all__ = ["DatabaseError", "DatabaseNotAnswering", "Tables", "answering", "connect", "cursor", "diagnose", "last_ticket_id", "server_now"]

CONNECT_TIMEOUT = 5  # TCP connect, the server's greeting and the login, together (a frozen server: this long)
# Each read or write of a statement, once connected. ostops's statements take milliseconds (the slowest, a scan
# of 1,000,000 subjects for a run without a record, about 2 s: README "Performance"); a frozen server is named
# within 30 s even when an HTTP timeout to osTicket (http.TIMEOUT) and a new connection come first.
QUERY_TIMEOUT = 15


class _NoAnswer(pymysql.err.OperationalError):
    """A read from the server timed out (pymysql's "Lost connection … (timed out)"), worded for people."""


class _Connection(pymysql.connections.Connection):
    """pymysql's connection whose timed-out reads name the server, the wait and what to do. pymysql (2.2.8 as
    installed, connections.py Connection._read_bytes) turns the socket's timeout into an OperationalError
    "Lost connection to MySQL server during query (timed out)"; this one says which server did not answer within
    how long, and it is still a pymysql error for every handler of those."""

    def __init__(self, advice: Callable[[], str], **kwargs: Any) -> None:
        self._advice = advice  # before pymysql's __init__, which connects
        super().__init__(**kwargs)

    def _read_bytes(self, num_bytes: int) -> bytes:
        base: Any = super()  # a private method the type stubs do not list
        try:
            return bytes(base._read_bytes(num_bytes))
        except pymysql.err.OperationalError as exc:
            if not isinstance(exc.__context__, TimeoutError):
                raise
            seconds = getattr(self, "_read_timeout", None) or 0
            raise _NoAnswer(exc.args[0], f"osTicket's database at {self.host}:{self.port} did not answer within "
                                         f"{seconds:g} s: the server is frozen or overloaded; "
                                         f"{self._advice()}") from exc


def advice(instance: Instance) -> str:
    """What to do about a database that does not answer: for a local instance whose mariadbd is stopped, how to
    resume it; otherwise where to look."""
    local = instance.local
    if local is None:
        return ("check the MariaDB service on that server (running, not overloaded) and the network to it, then "
                "run the command again")
    from automation.local import processes

    pid = local.pids.get("mariadb")
    if pid and processes.is_stopped(pid):
        return f"mariadbd (pid {pid}) is stopped (SIGSTOP or a debugger): resume it with `kill -CONT {pid}`"
    return f"`ostops local status --dir {local.dir}` shows its processes; the machine may be overloaded"


def connect(instance: Instance, autocommit: bool = True) -> pymysql.connections.Connection:
    import ssl

    db = instance.db
    try:
        # pymysql's connect_timeout bounds only the TCP connect; the greeting and the login are reads under
        # read_timeout (PyMySQL 2.2.8 as installed, connections.py Connection.connect: sock.settimeout(self._read_timeout)
        # before _get_server_information). So the handshake reads under CONNECT_TIMEOUT, and statements under
        # QUERY_TIMEOUT from then on (_read_packet resets the socket's timeout when _read_timeout changes).
        conn: Any = _Connection(
            advice=lambda: advice(instance),
            host=db.host, port=db.port, user=db.user, password=db.password.get_secret_value(),
            database=db.name, charset="utf8mb4", autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT, read_timeout=CONNECT_TIMEOUT, write_timeout=CONNECT_TIMEOUT,
            cursorclass=pymysql.cursors.DictCursor, ssl=_tls(instance),
        )
        conn._read_timeout = conn._write_timeout = QUERY_TIMEOUT
        return conn
    except pymysql.MySQLError as exc:
        if isinstance(exc, _NoAnswer) or "timed out" in str(exc.args[-1]):  # the latter: within TLS's handshake
            raise DatabaseNotAnswering(
                f"osTicket's database at {db.host}:{db.port} accepted the connection but did not answer within "
                f"{CONNECT_TIMEOUT} s: the server is frozen or overloaded; {advice(instance)}") from exc
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


def answering(conn: pymysql.connections.Connection) -> pymysql.connections.Connection:
    """``conn``, once the server has answered a ping within CONNECT_TIMEOUT: after a failure, a frozen server is
    told apart in that time instead of a statement's QUERY_TIMEOUT. Anything but a pymysql connection (a
    stand-in given to the runner) is returned as it is."""
    if not isinstance(conn, pymysql.connections.Connection):
        return conn
    reader: Any = conn
    saved = reader._read_timeout
    reader._read_timeout = CONNECT_TIMEOUT
    try:
        conn.ping(reconnect=False)
    except _NoAnswer as exc:
        raise DatabaseNotAnswering(str(exc.args[-1])) from exc
    except pymysql.MySQLError as exc:
        raise DatabaseError(f"osTicket's database at {reader.host}:{reader.port}: the connection is lost "
                            f"({exc.args[-1] or type(exc).__name__})") from exc
    finally:
        reader._read_timeout = saved
    return conn


def diagnose(instance: Instance) -> str:
    """Whether osTicket's database answers, in one sentence: why osTicket (PHP, waiting on it) may not."""
    try:
        connect(instance).close()
    except DatabaseError as exc:
        return str(exc)
    return (f"osTicket's database at {instance.db.host}:{instance.db.port} answers, so osTicket itself (its web "
            "server or PHP) is slow or stuck")


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
    except _NoAnswer as exc:
        raise DatabaseNotAnswering(str(exc.args[-1])) from exc
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
