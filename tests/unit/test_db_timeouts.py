"""The database's connect timeout is separate from its read timeout: a server that accepts the TCP connection and
then says nothing (a frozen mariadbd) fails the connect within CONNECT_TIMEOUT, not QUERY_TIMEOUT."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from automation.errors import DatabaseError
from automation.instance import DatabaseAccess, Instance, Login
from automation.osticket import db


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose kernel accepts connections (the listen backlog) that no program ever answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_silent_server_fails_within_the_connect_timeout(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(db, "QUERY_TIMEOUT", 30)
    instance = Instance(kind="local", url="http://127.0.0.1:9", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
                        admin=Login(username="admin", password=SecretStr("b")),
                        db=DatabaseAccess(host="127.0.0.1", port=silent_port, name="osticket", user="osticket",
                                          password=SecretStr("c")))
    started = time.monotonic()
    with pytest.raises(DatabaseError, match=r"accepted the connection but did not answer within 0.5 s"):
        db.connect(instance)
    assert time.monotonic() - started < 5
