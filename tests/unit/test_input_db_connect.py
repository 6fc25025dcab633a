"""`connect()`: a TLS or file problem raised by pymysql.connect is a DatabaseError (exit 1), never a traceback."""

from __future__ import annotations

import ssl
from pathlib import Path

import pymysql
import pytest
from pydantic import SecretStr

from automation.instance import DatabaseAccess, Instance, Login
from automation.osticket import db
from automation.osticket.db import DatabaseError, connect

PASSWORD = "db-S3cret-pw"


def instance(ssl_ca: str | None) -> Instance:
    return Instance(kind="azure", url="http://x.example/", osticket_version="1.18.3", api_key=SecretStr("k" * 32),
                    admin=Login(username="ostadmin", password=SecretStr("adm")),
                    db=DatabaseAccess(host="db.example", port=3307, name="osticket", user="osticket",
                                      password=SecretStr(PASSWORD), ssl=True, ssl_ca=ssl_ca))


def refused(inst: Instance) -> str:
    with pytest.raises(DatabaseError) as info:
        connect(inst)
    message = str(info.value)
    assert info.value.exit_code == 4  # osTicket's database: the environment
    assert "db.example:3307" in message
    assert PASSWORD not in message
    return message


def test_a_ca_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")
    message = refused(instance(str(ca)))  # pymysql builds the TLS context before it opens a socket
    assert f"TLS cannot use the CA file {ca}" in message
    assert "fix db.ssl_ca in the instance file" in message


def test_a_ca_file_that_is_gone(tmp_path: Path) -> None:
    message = refused(instance(str(tmp_path / "gone.pem")))
    assert "No such file or directory" in message and str(tmp_path / "gone.pem") in message


@pytest.mark.parametrize("error", [ssl.SSLError(1, "[SSL] certificate verify failed"),
                                   ConnectionResetError(104, "Connection reset by peer"),
                                   OSError("unexpected")])
def test_errors_raised_by_pymysql_connect_are_mapped(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    def failing(**kwargs: object) -> None:
        assert kwargs["password"] == PASSWORD
        raise error

    monkeypatch.setattr(db, "_Connection", failing)
    message = refused(instance(None))
    assert message.startswith("cannot connect to osTicket's database at db.example:3307: ")


def test_mysql_errors_keep_their_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: object) -> None:
        raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db.example'")

    monkeypatch.setattr(db, "_Connection", failing)
    assert "as osticket: Can't connect to MySQL server" in refused(instance(None))
