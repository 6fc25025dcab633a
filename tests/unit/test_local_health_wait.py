"""`local up` waits for its own osTicket: a 200 from another program that took the port first (our nginx then
exits at once) is not success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from automation.errors import LocalInstanceError
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import manager


def instance(base: Path) -> Instance:
    return Instance(
        kind="local", url="http://127.0.0.1:8123/", osticket_version="1.18.1",
        api_key=SecretStr("A" * 32), admin=Login(username="a", password=SecretStr("b")),
        db=DatabaseAccess(host="127.0.0.1", port=3307, name="osticket", user="osticket", password=SecretStr("c")),
        local=LocalProcesses(dir=str(base), webroot=str(base / "www"), source="/src", http_port=8123,
                             fpm_port=9001, db_port=3307, pids={"nginx": 11, "php-fpm": 12, "mariadb": 13},
                             db_root_password=SecretStr("d")),
    )


class Answer:
    status_code = 200


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", lambda *a, **k: Answer())


@pytest.mark.usefixtures("answering")
def test_a_200_while_our_nginx_has_exited_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def running(pid: int, *identity: Any) -> bool:
        return pid != 11  # nginx lost the port to another program and exited

    monkeypatch.setattr(manager.processes, "is_running", running)
    with pytest.raises(LocalInstanceError) as info:
        manager._wait_healthy(instance(tmp_path), timeout=2)
    assert "nginx (pid 11) exited" in str(info.value)
    assert "8123" in str(info.value) and "--port" in str(info.value)


@pytest.mark.usefixtures("answering")
def test_a_200_with_every_server_running_is_healthy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(manager.processes, "is_running", lambda pid, *identity: True)
    manager._wait_healthy(instance(tmp_path), timeout=2)
