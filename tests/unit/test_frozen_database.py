"""Issue 19: a frozen database is given up on within 30 s and named. An HTTP read that times out is not repeated
(osTicket's PHP waits on the frozen database, and would wait as long again) and is followed by a look at the
database; a connection whose server stops answering says so within db.CONNECT_TIMEOUT when pinged, naming the
server and what to do."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pymysql
import pytest
import requests
from pydantic import SecretStr

from automation.errors import DatabaseNotAnswering, OsTicketUnavailable
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.osticket import db, http
from automation.osticket.staff import StaffSession


@pytest.fixture
def silent_http() -> Iterator[tuple[str, list[float]]]:
    """An HTTP server that accepts every connection and never answers; the times of its connections."""
    accepted: list[float] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(time.monotonic())
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/", accepted
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_get_that_timed_out_is_not_sent_again(silent_http: tuple[str, list[float]]) -> None:
    url, accepted = silent_http
    session = http.new_session()
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(url, timeout=(2, 0.5))
    assert time.monotonic() - started < 1.5
    assert len(accepted) == 1  # urllib3's read retry sent it again, doubling the wait


def test_an_http_timeout_says_whether_the_database_answers(silent_http: tuple[str, list[float]]) -> None:
    url, _ = silent_http
    session = http.new_session(diagnose=lambda: "osTicket's database at 10.0.0.4:3306 did not answer")
    staff = StaffSession(url, "agent", "pw", session=session, timeout=(2, 0.3))
    with pytest.raises(OsTicketUnavailable) as caught:
        staff.login()
    assert "no answer from osTicket (ReadTimeout; osTicket's database at 10.0.0.4:3306 did not answer)" in str(
        caught.value)


def test_a_plain_session_names_only_the_failure(silent_http: tuple[str, list[float]]) -> None:
    url, _ = silent_http
    session = requests.Session()
    with pytest.raises(requests.ReadTimeout) as caught:
        session.get(url, timeout=(2, 0.3))
    assert http.no_answer(session, caught.value) == "ReadTimeout"


def local_instance(port: int, mariadb_pid: int) -> Instance:
    return Instance(kind="local", url="http://127.0.0.1:9/", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
                    admin=Login(username="admin", password=SecretStr("b")),
                    db=DatabaseAccess(host="127.0.0.1", port=port, name="osticket", user="osticket",
                                      password=SecretStr("c")),
                    local=LocalProcesses(dir="/tmp/inst", webroot="/tmp/inst/www", source="/src", http_port=9,
                                         fpm_port=9001, db_port=port,
                                         pids={"nginx": 1, "php-fpm": 2, "mariadb": mariadb_pid},
                                         db_root_password=SecretStr("d")))


def connected_to_silence(instance: Instance) -> tuple[pymysql.connections.Connection, socket.socket]:
    """A connection as `db.connect` makes it, past its handshake, to a server that then says nothing."""
    ours, theirs = socket.socketpair()
    conn: object = db._Connection(advice=lambda: db.advice(instance), host=instance.db.host,
                                  port=instance.db.port, defer_connect=True)
    conn.__dict__.update(_sock=ours, _rfile=ours.makefile("rb"), _next_seq_id=0, _closed=False,
                         _current_timeout=None, _read_timeout=db.QUERY_TIMEOUT, _write_timeout=db.QUERY_TIMEOUT)
    assert isinstance(conn, pymysql.connections.Connection)
    return conn, theirs


def test_a_ping_tells_a_frozen_server_within_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "CONNECT_TIMEOUT", 0.3)
    monkeypatch.setattr("automation.local.processes.is_stopped", lambda pid: pid == 4242)
    conn, peer = connected_to_silence(local_instance(3307, 4242))
    started = time.monotonic()
    with pytest.raises(DatabaseNotAnswering) as caught:
        db.answering(conn)
    assert time.monotonic() - started < 2  # not QUERY_TIMEOUT
    assert str(caught.value) == ("osTicket's database at 127.0.0.1:3307 did not answer within 0.3 s: the server is "
                                 "frozen or overloaded; mariadbd (pid 4242) is stopped (SIGSTOP or a debugger): "
                                 "resume it with `kill -CONT 4242`")
    peer.close()


def test_a_statement_that_times_out_names_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "QUERY_TIMEOUT", 0.3)
    instance = local_instance(3307, 4242)
    instance = instance.model_copy(update={"local": None})
    conn, peer = connected_to_silence(instance)
    with pytest.raises(DatabaseNotAnswering, match=r"^osTicket's database at 127\.0\.0\.1:3307 did not answer "
                       r"within 0\.3 s: the server is frozen or overloaded; check the MariaDB service"), \
            db.cursor(conn) as cur:
        cur.execute("SELECT 1")
    peer.close()


def test_the_statement_timeout_leaves_room_within_30_seconds() -> None:
    # An HTTP read to osTicket that times out, a new connection to the database, a ping of the run's own.
    assert http.TIMEOUT[1] + db.CONNECT_TIMEOUT + db.CONNECT_TIMEOUT <= 25
    assert db.QUERY_TIMEOUT + db.CONNECT_TIMEOUT <= 25
