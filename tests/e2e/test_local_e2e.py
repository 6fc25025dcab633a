"""Issue 2 acceptance on a real local osTicket: HTTP, API, staff login, health, down/up/fresh."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from automation.local import manager, processes
from tests.helpers.osticket import OSTOPS, ostops, query, staff_login

pytestmark = pytest.mark.e2e


def test_home_page_api_and_staff_login(osticket: Any) -> None:
    inst = osticket.instance
    assert requests.get(inst.base_url, timeout=10).status_code == 200
    created = requests.post(inst.base_url + "api/tickets.json", timeout=30,
                            headers={"X-API-Key": inst.api_key.get_secret_value()},
                            json={"name": "Karen Doe", "email": "karen.doe@example.com", "subject": "API check",
                                  "message": "Created by the e2e test"})
    assert created.status_code == 201
    assert created.text.strip().isdigit()
    session = staff_login(inst.base_url, inst.admin.username, inst.admin.password.get_secret_value())
    # PATH_INFO under /scp/ajax.php reaches osTicket's ajax dispatcher (a 200 dialog, not a 404).
    dialog = session.get(inst.base_url + "scp/ajax.php/tickets/lookup?q=karen", timeout=10)
    assert dialog.status_code == 200


def test_wrong_key_and_cron(osticket: Any) -> None:
    inst = osticket.instance
    refused = requests.post(inst.base_url + "api/tickets.json", headers={"X-API-Key": "0" * 32}, json={},
                            timeout=10)
    assert (refused.status_code, refused.text.strip()) == (401, "Valid API key required")
    cron = requests.post(inst.base_url + "api/tasks/cron", headers={"X-API-Key": inst.api_key.get_secret_value()},
                         timeout=30)
    assert cron.status_code == 200


@pytest.mark.parametrize("path", ["include/ost-config.php", "include/", "setup/", "setup/install.php"])
def test_code_and_installer_are_not_served(osticket: Any, path: str) -> None:
    response = requests.get(osticket.instance.base_url + path, timeout=10)
    assert response.status_code in (403, 404)
    assert "DBPASS" not in response.text


def test_hardened_install(osticket: Any) -> None:
    webroot = Path(osticket.instance.local.webroot)
    assert not (webroot / "setup").exists()
    assert (webroot / "include" / "ost-config.php").stat().st_mode & 0o222 == 0
    assert (osticket.instance_path.stat().st_mode & 0o777) == 0o600


def test_config_for_local_use(osticket: Any) -> None:
    from tests.helpers.osticket import query

    rows = {r["key"]: r["value"] for r in query(osticket, "SELECT `key`, value FROM ost_config WHERE namespace='core' "
                                                          "AND `key` IN ('verify_email_addrs', 'helpdesk_url')")}
    assert rows["helpdesk_url"] == osticket.instance.base_url
    assert rows["verify_email_addrs"] in ("0", "")  # osTicket's Config stores False as ''

    keys = query(osticket, "SELECT ipaddr, can_create_tickets, can_exec_cron FROM ost_api_key WHERE isactive=1")
    assert {"ipaddr": "127.0.0.1", "can_create_tickets": 1, "can_exec_cron": 1} in keys


def test_status_and_env_commands(osticket: Any) -> None:
    status = ostops(osticket, "local", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "healthy" in status.stdout and "UNHEALTHY" not in status.stdout
    env = ostops(osticket, "local", "env")
    secret = osticket.instance.db.password.get_secret_value()
    assert secret not in env.stdout
    assert "export OSTOPS_DB_PASSWORD='********'" in env.stdout
    shown = ostops(osticket, "local", "env", "--show-secrets")
    assert f"export OSTOPS_DB_PASSWORD='{secret}'" in shown.stdout


@pytest.fixture
def scratch() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="ostops-e2e-updown-"))
    try:
        yield base / "instance"
    finally:
        manager.down(base / "instance")
        shutil.rmtree(base, ignore_errors=True)


def test_up_down_restart_fresh(scratch: Path) -> None:
    first = manager.up(scratch)
    local = first.instance.local
    assert local is not None
    print(f"bring-up from an empty folder: {first.seconds:.1f} s")
    ports = (local.http_port, local.fpm_port, local.db_port, local.smtp_port)
    assert sorted(local.pids) == ["mariadb", "nginx", "php-fpm", "smtpd"]
    again = manager.up(scratch, http_port=local.http_port + 1)
    assert again.already_running
    assert again.ignored == [(f"--port {local.http_port + 1} ignored: the instance listens on {local.http_port} "
                             "(--fresh rebuilds it on the new port)")]
    assert again.instance.local.pids == local.pids

    stopped = manager.down(scratch)
    assert sorted(stopped) == ["mariadb", "nginx", "php-fpm", "smtpd"]
    for name, pid in local.pids.items():
        assert not processes.is_running(pid, manager.SERVICES[name]), name
    for port in ports:
        assert processes.port_is_free(port), port
    report = subprocess.run([OSTOPS, "report", "--instance", str(manager.instance_file(scratch))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert report.returncode == 4
    assert f"start it with `ostops local up --dir {scratch}`" in " ".join(report.stderr.split())

    restarted = manager.up(scratch)
    assert restarted.restarted
    assert restarted.instance.api_key.get_secret_value() == first.instance.api_key.get_secret_value()
    assert manager.status(restarted.instance).healthy

    fresh = manager.up(scratch, fresh=True)
    assert not fresh.already_running and not fresh.restarted
    assert fresh.instance.api_key.get_secret_value() != first.instance.api_key.get_secret_value()
    assert manager.status(fresh.instance).healthy


def test_bad_source_and_busy_port_are_clear_errors(tmp_path: Path) -> None:
    import subprocess

    from tests.helpers.osticket import OSTOPS

    result = subprocess.run([OSTOPS, "local", "up", "--dir", str(tmp_path / "x"), "--source", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"--source {tmp_path}: not an osTicket source" in result.stderr
    assert not (tmp_path / "x" / "instance.json").exists()

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([OSTOPS, "local", "up", "--dir", str(tmp_path / "y"), "--port", str(port)],
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 4
    assert f"port {port} on 127.0.0.1 is busy; choose another with --port" in result.stderr


def test_installer_failure_shows_osticket_message(osticket: Any, tmp_path: Path) -> None:
    from pydantic import SecretStr

    from automation.errors import LocalInstanceError
    from automation.local import webserver

    source = Path(osticket.instance.local.source)
    webroot = tmp_path / "www"
    manager.copy_webroot(source, webroot)
    broken = osticket.instance.model_copy(deep=True)
    broken.local.webroot = str(webroot)
    broken.db.password = SecretStr("not-the-password")
    with pytest.raises(LocalInstanceError) as excinfo:
        manager.run_installer(webserver.php_cli(), broken)
    message = str(excinfo.value)
    assert message.startswith("osTicket's installer failed: ")
    assert "Unable to connect to MySQL server" in message  # osTicket's own text
    assert "not-the-password" not in message


def test_down_leaves_another_instances_processes_alone(osticket: Any, tmp_path: Path) -> None:
    """An instance file whose pids now belong to another instance's servers (pids reused after a reboot or a
    container restart, or a copied folder) must not stop them."""
    stale = tmp_path / "stale"
    stale.mkdir()
    record = osticket.instance.model_copy(deep=True)
    record.local.dir = str(stale)
    record.save(manager.instance_file(stale))
    assert manager.down(stale) == []
    assert all(manager.running_services(osticket.instance).values())
    assert manager.status(osticket.instance).healthy


def test_status_writes_nothing_to_osticket_s_log_and_checks_the_table_prefix(osticket: Any) -> None:
    """osTicket logs the API key in clear with every API error: status must not provoke one."""
    logged = "SELECT COUNT(*) AS n FROM ost_syslog"
    before = query(osticket, logged)[0]["n"]
    status = ostops(osticket, "local", "status")
    assert status.returncode == 0, status.stdout
    assert "active for 127.0.0.1, creates tickets" in status.stdout
    assert query(osticket, logged)[0]["n"] == before

    wrong = osticket.instance.model_copy(update={"db": osticket.instance.db.model_copy(update={"table_prefix": "zz_"})})
    health = manager.status(wrong)
    assert not health.healthy
    assert health.checks["database"][1].endswith("; is the table prefix 'zz_' right?")
    assert health.checks["api key"] == (False, "not checked: osTicket's tables were not found")


def test_status_names_a_key_bound_to_another_address(osticket: Any) -> None:
    """osTicket accepts a key only from its bound address: status compares it with how this machine is seen."""
    key = osticket.instance.api_key.get_secret_value()
    query(osticket, "UPDATE ost_api_key SET ipaddr = '10.9.9.9' WHERE apikey = %s", [key])
    try:
        ok, detail = manager.status(osticket.instance).checks["api key"]
    finally:
        query(osticket, "UPDATE ost_api_key SET ipaddr = '127.0.0.1' WHERE apikey = %s", [key])
    assert not ok
    assert detail.startswith("active for 10.9.9.9, but this machine reaches osTicket from 127.0.0.1: the API will "
                             "refuse it (HTTP 401)")
    assert manager.status(osticket.instance).healthy
