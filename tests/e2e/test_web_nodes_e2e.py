"""Issue 22's local twin on a real osTicket: two web nodes behind HAProxy, MariaDB requiring TLS."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from automation.local import haproxy, manager, processes
from automation.osticket import db
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.staff import StaffSession
from tests.conftest import LocalOsTicket, bring_up
from tests.helpers.osticket import OSTOPS, REPO, ostops, query

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")
# A loopback address other than HAProxy's (127.0.0.1): Linux routes all of 127.0.0.0/8 to lo.
CLIENT_IP = "127.0.0.7"


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """One two-node instance for the module (the session's single-node one is not used here)."""
    yield from bring_up("ostops-e2e-nodes-", web_nodes=2)


def node_log(osticket: LocalOsTicket, node: int) -> Path:
    return manager.node_dir(osticket.base, node) / "logs" / "nginx-access.log"


def served(osticket: LocalOsTicket) -> list[list[str]]:
    """Each node's access-log lines so far, HAProxy's health probes left out."""
    return [[line for line in node_log(osticket, n).read_text().splitlines() if haproxy.HEALTH_PATH not in line]
            for n in (1, 2)]


def node_url(osticket: LocalOsTicket, node: int) -> str:
    assert osticket.instance.local is not None
    return f"http://127.0.0.1:{osticket.instance.local.web_nodes[node - 1].http_port}/"


def api(osticket: LocalOsTicket) -> TicketApi:
    return TicketApi(osticket.instance.base_url, osticket.instance.api_key.get_secret_value())


def test_up_builds_two_nodes_behind_haproxy_with_tls_to_the_database(osticket: LocalOsTicket) -> None:
    local = osticket.instance.local
    assert local is not None and len(local.web_nodes) == 2
    assert osticket.instance.url == f"http://127.0.0.1:{local.http_port}/"
    assert osticket.instance.db.ssl and osticket.instance.db.ssl_ca == str(osticket.base / "tls" / "ca.pem")
    config = (Path(local.webroot) / "include" / "ost-config.php").read_text()
    assert "define('TRUSTED_PROXIES', '127.0.0.1');" in config
    assert f"define('DBSSLCA', '{osticket.base / 'tls' / 'ca.pem'}');" in config
    result = ostops(osticket, "local", "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    for name in ("process haproxy", "process nginx@1", "process php-fpm@1", "process nginx@2", "process php-fpm@2",
                 "node web1", "node web2", "haproxy web1", "haproxy web2", "database", "http"):
        assert checks[name]["ok"], (name, checks[name])
    assert checks["haproxy web2"]["detail"].startswith("UP")


def test_mariadb_refuses_a_connection_without_tls(osticket: LocalOsTicket) -> None:
    access = osticket.instance.db
    plain = {"host": access.host, "port": access.port, "user": access.user,
             "password": access.password.get_secret_value(), "connect_timeout": 5}
    # MariaDB 10.11 answers 1045 "Access denied" to the right password over plain TCP (11.4 names it 3159,
    # ER_SECURE_TRANSPORT_REQUIRED); ssl_disabled: PyMySQL otherwise tries TLS on its own.
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(**plain, ssl_disabled=True)
    assert refused.value.args[0] in (1045, 3159)
    conn = db.connect(osticket.instance)  # ostops: TLS, the server checked against the instance's CA
    try:
        with db.cursor(conn) as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
            assert cur.fetchone()["Value"].startswith("TLSv1.")
            cur.execute("SELECT @@require_secure_transport AS required")
            assert cur.fetchone()["required"] == 1
    finally:
        conn.close()
    # osTicket itself: every page reads its configuration from the database, so a 200 is a TLS connection.
    for node in (1, 2):
        page = http.client.HTTPConnection("127.0.0.1", int(node_url(osticket, node).split(":")[2].rstrip("/")),
                                          timeout=30)
        page.request("GET", "/index.php")
        assert page.getresponse().status == 200


def test_lab_runs_across_both_nodes_round_robin(osticket: LocalOsTicket, tmp_path: Path) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    before = [len(lines) for lines in served(osticket)]
    result = ostops(osticket, "run", str(LAB), "--seed", "--json-file", str(tmp_path / "run.json"), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert RUN_ID.search(result.stdout), result.stdout
    during = [len(lines) - b for lines, b in zip(served(osticket), before, strict=True)]
    total = sum(during)
    assert total >= 20, during
    # Round robin: each node answered close to half of the lab's requests.
    assert all(abs(n - total / 2) <= total * 0.1 for n in during), during


def test_a_staff_session_started_on_one_node_acts_on_the_other(osticket: LocalOsTicket) -> None:
    """osTicket keeps sessions in its database unless SESSION_BACKEND says otherwise (include/class.ostsession.php,
    1.18.1: ``$bk = self::session_backend() ?: 'database'``), so web2 knows the session and CSRF token web1 made."""
    number = api(osticket).create_ticket(NewTicket(
        name="Zoë O'Brien", email="zoe.obrien@example.com", subject="Cross-node <session> & notes",
        message="Started on web1, noted on web2."))
    ticket_id = query(osticket, "SELECT ticket_id FROM ost_ticket WHERE number = %s", [number])[0]["ticket_id"]
    admin = osticket.instance.admin
    staff = StaffSession(node_url(osticket, 1), admin.username, admin.password.get_secret_value())
    staff.login()
    staff.base_url = node_url(osticket, 2)

    def no_second_login() -> None:
        pytest.fail("web2 did not know web1's session: StaffSession logged in again")

    staff.login = no_second_login  # type: ignore[method-assign]
    before = len(served(osticket)[1])
    staff.post_note(ticket_id, "Noted on web2 with the session web1 started: l'équipe & 日本語", title="x-node")
    assert len(served(osticket)[1]) > before  # web2 answered
    notes = query(osticket, "SELECT s.username, e.body FROM ost_thread t JOIN ost_thread_entry e ON e.thread_id = "
                            "t.id JOIN ost_staff s ON s.staff_id = e.staff_id WHERE t.object_type = 'T' AND "
                            "t.object_id = %s AND e.type = 'N'", [ticket_id])
    assert [n["username"] for n in notes] == [admin.username]
    assert "l'équipe &amp; 日本語" in notes[0]["body"] or "l'équipe & 日本語" in notes[0]["body"]
    staff.close()


def test_trusted_proxies_make_osticket_record_the_client_not_haproxy(osticket: LocalOsTicket) -> None:
    """HAProxy reaches the nodes from 127.0.0.1; osTicket must record the client's own address (127.0.0.7): the
    ticket's ip_address (class.ticket.php: ``$vars['ip'] ?: $_SERVER['REMOTE_ADDR']``, REMOTE_ADDR rewritten by
    main.inc.php from osTicket::get_client_ip()), and an API key bound to the client's address is accepted."""
    key = "0F" * 16
    query(osticket, "INSERT INTO ost_api_key SET isactive = 1, ipaddr = %s, apikey = %s, can_create_tickets = 1, "
                    "can_exec_cron = 0, notes = 'e2e client', created = NOW(), updated = NOW()", [CLIENT_IP, key])
    assert osticket.instance.local is not None
    port = osticket.instance.local.http_port
    body = json.dumps({"name": "Ana Núñez", "email": "ana.nunez@example.com", "subject": "From 127.0.0.7 & co",
                       "message": "Which address does osTicket keep?"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(CLIENT_IP, 0))
    # A forged header: HAProxy replaces it with the connection's own source.
    conn.request("POST", "/api/tickets.json", body, {"X-API-Key": key, "Content-Type": "application/json",
                                                     "X-Forwarded-For": "203.0.113.9"})
    answer = conn.getresponse()
    number = answer.read().decode()
    assert answer.status == 201, number
    row = query(osticket, "SELECT ip_address FROM ost_ticket WHERE number = %s", [number])[0]
    assert row["ip_address"] == CLIENT_IP
    # ...while the node's nginx saw HAProxy's address.
    posts = [line for lines in served(osticket) for line in lines if "POST /api/tickets.json" in line]
    assert posts and {line.split()[0] for line in posts} == {"127.0.0.1"}


def test_cron_runs_once_per_tick_with_two_nodes(osticket: LocalOsTicket) -> None:
    """ostops triggers osTicket's cron through the instance URL (api/tasks/cron, include/api.cron.php): one request,
    so one node, per tick; no node runs a cron of its own. Each run is counted twice: the nodes' access logs and
    osTicket's own "Cron job executed" debug entry (logged at log_level 3)."""
    query(osticket, "UPDATE ost_config SET value = '3' WHERE namespace = 'core' AND `key` = 'log_level'")
    ticks = 4

    def cron_runs() -> tuple[int, int]:
        logged = query(osticket, "SELECT COUNT(*) AS n FROM ost_syslog WHERE title = 'Cron Job'")[0]["n"]
        return logged, sum(1 for lines in served(osticket) for line in lines if "/api/tasks/cron" in line)

    before = cron_runs()
    client = api(osticket)
    for _ in range(ticks):
        assert client.run_cron() == "Completed"
    time.sleep(0.5)
    after = cron_runs()
    assert (after[0] - before[0], after[1] - before[1]) == (ticks, ticks)


def test_a_node_killed_during_load_is_routed_around_and_every_ticket_accounted_for(
        osticket: LocalOsTicket) -> None:
    local = osticket.instance.local
    assert local is not None
    tickets = 40
    load = subprocess.Popen([OSTOPS, "load", "--tickets", str(tickets), "--concurrency", "4", "--json",
                             "--instance", str(osticket.instance_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while sum(line.count("POST /api/tickets.json") for line in node_log(osticket, 2).read_text().splitlines()
                  [-50:]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        for name in ("nginx@2", "php-fpm@2"):  # the whole node, at once
            os.killpg(local.pids[name], signal.SIGKILL)
        out, err = load.communicate(timeout=300)
    finally:
        if load.poll() is None:
            load.kill()
    summary = json.loads(out)
    assert summary["tickets"] == tickets
    failed = sum(summary["errors"].values())
    # Every ticket is confirmed (created and verified) or named (a failed request, and any ticket osTicket kept
    # for one of them listed as unconfirmed); the exit code says which.
    assert summary["verified"] + failed == tickets, summary
    landed = query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = "
                             "t.ticket_id WHERE cd.subject LIKE %s", [f"%[ostops {summary['run_id']} %"])[0]["n"]
    assert landed == summary["verified"] + len(summary["unconfirmed"]), summary
    assert load.returncode == (0 if summary["ok"] else 1), err
    assert summary["ok"] == (failed == 0)
    # HAProxy took web2 out; the rest went to web1.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(n.up for n in haproxy.view(osticket.base) if n.name == "web2"):
        time.sleep(0.2)
    assert {n.name: n.up for n in haproxy.view(osticket.base)} == {"web1": True, "web2": False}
    status = ostops(osticket, "local", "status", "--json")
    assert status.returncode == 4
    checks = json.loads(status.stdout)["checks"]
    assert not checks["node web2"]["ok"] and not checks["haproxy web2"]["ok"] and checks["http"]["ok"]

    # `local up` on the damaged instance restarts every server, and both nodes serve again.
    again = manager.up(osticket.base)
    assert again.restarted
    assert all(manager.running_services(again.instance).values())
    assert {n.name: n.up for n in haproxy.view(osticket.base)} == {"web1": True, "web2": True}
    stopped = manager.down(osticket.base)
    assert set(stopped) == {"haproxy", "nginx@1", "php-fpm@1", "nginx@2", "php-fpm@2", "mariadb", "smtpd"}
    assert not any(processes.is_running(pid) for pid in again.instance.local.pids.values())  # type: ignore[union-attr]
