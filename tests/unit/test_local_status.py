"""`ostops local status` does not mistake another program on the instance's port for the instance."""

from __future__ import annotations

import http.server
import socket
import threading

from pydantic import SecretStr

from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local.manager import status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stopped_instance_whose_port_another_server_answers_is_not_healthy(tmp_path) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    port = other.server_address[1]
    try:
        instance = Instance(
            kind="local", url=f"http://127.0.0.1:{port}/", osticket_version="1.18.1",
            api_key=SecretStr("A" * 32), admin=Login(username="a", password=SecretStr("b")),
            db=DatabaseAccess(host="127.0.0.1", port=free_port(), name="osticket", user="osticket",
                              password=SecretStr("c")),
            local=LocalProcesses(dir=str(tmp_path), webroot=str(tmp_path), source="test", http_port=port,
                                 fpm_port=free_port(), db_port=free_port(), pids={}, db_root_password=SecretStr("d")),
        )
        health = status(instance)
    finally:
        other.shutdown()
        other.server_close()
    ok, detail = health.checks["http"]
    assert not ok
    assert detail == f"GET http://127.0.0.1:{port}/ -> 200, but from another program: this instance's nginx is not running"
    assert not health.checks["process nginx"][0]


def test_status_and_env_take_dir_as_up_and_down_do(tmp_path, monkeypatch) -> None:
    """Issue 19: `local up/down` took --dir, `local status/env` refused it."""
    from click.testing import CliRunner

    from automation.cli import cli
    from automation.local import manager

    base = tmp_path / "inst"
    base.mkdir()
    Instance(kind="local", url="http://127.0.0.1:8123/", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
             admin=Login(username="a", password=SecretStr("b")),
             db=DatabaseAccess(host="127.0.0.1", port=3399, name="osticket", user="osticket", password=SecretStr("c")),
             local=LocalProcesses(dir=str(base), webroot=str(base), source="test", http_port=8123, fpm_port=9001,
                                  db_port=3399, pids={}, db_root_password=SecretStr("d"))
             ).save(manager.instance_file(base))
    monkeypatch.setenv("OSTOPS_INSTANCE", str(tmp_path / "elsewhere" / "instance.json"))
    env = CliRunner().invoke(cli, ["local", "env", "--dir", str(base)])
    assert env.exit_code == 0, env.output
    assert "export OSTOPS_DB_PORT='3399'" in env.output
    seen = []

    def fake_status(instance: Instance) -> manager.Health:
        seen.append(instance.db.port)
        return manager.Health({"process nginx": (True, "ok")})

    monkeypatch.setattr(manager, "status", fake_status)
    result = CliRunner().invoke(cli, ["local", "status", "--dir", str(base)])
    assert result.exit_code == 0 and seen == [3399], result.output
    both = CliRunner().invoke(cli, ["local", "env", "--dir", str(base), "--instance", str(base / "instance.json")])
    assert both.exit_code == 2 and "--dir and --instance both name the instance; give one" in both.output
