"""Issue 21: osTicket's CLI upgrader loops while an upgrade is pending, so a patch that fails is attempted
forever; `run_upgrader` ends it after UPGRADER_REPEATS attempts at one version, and bounds it by a timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from automation.errors import OsTicketError
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import webserver
from automation.operations import upgrade


def fake_instance(webroot: Path) -> Instance:
    return Instance(kind="local", url="http://127.0.0.1:9/", osticket_version="1.17.5", api_key=SecretStr("K" * 32),
                    admin=Login(username="ostadmin", password=SecretStr("a")),
                    db=DatabaseAccess(host="127.0.0.1", port=9, name="osticket", user="osticket",
                                      password=SecretStr("p")),
                    local=LocalProcesses(dir=str(webroot.parent), webroot=str(webroot), source="", http_port=9,
                                         fpm_port=9, db_port=9, db_root_password=SecretStr("r")))


def fake_php(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "php"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_a_patch_attempted_again_and_again_is_a_failure_not_a_hang(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    php = fake_php(tmp_path, 'while true; do echo "... v1.18"; sleep 0.01; done')
    monkeypatch.setattr(webserver, "php_cli", lambda: str(php))
    started = time.monotonic()
    with pytest.raises(OsTicketError, match=r"attempted 'v1.18' 3 times"):
        upgrade.run_upgrader(fake_instance(tmp_path), timeout=60)
    assert time.monotonic() - started < 10


def test_an_upgrader_that_hangs_is_stopped_at_its_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    php = fake_php(tmp_path, "exec sleep 30")
    monkeypatch.setattr(webserver, "php_cli", lambda: str(php))
    started = time.monotonic()
    with pytest.raises(OsTicketError, match="did not finish within 1 s"):
        upgrade.run_upgrader(fake_instance(tmp_path), timeout=1)
    assert time.monotonic() - started < 10


def test_an_upgrader_that_does_not_say_all_finished_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    php = fake_php(tmp_path, 'echo "... v1.18"; echo "Upgrade Failed: Invalid or wrong hash [83a22ba2]"')
    monkeypatch.setattr(webserver, "php_cli", lambda: str(php))
    with pytest.raises(OsTicketError, match="wrong hash"):
        upgrade.run_upgrader(fake_instance(tmp_path))
    ok = fake_php(tmp_path, 'echo "... v1.18"; echo "Yay! All finished!"')
    monkeypatch.setattr(webserver, "php_cli", lambda: str(ok))
    assert "All finished" in upgrade.run_upgrader(fake_instance(tmp_path))
