"""Issue 14: MariaDB frozen (SIGSTOP): `ostops local status` answers within its bound (README: 10 s; asserted
here with room for a loaded machine) and names the frozen server; every connection's handshake is bounded by
db.CONNECT_TIMEOUT while statements keep db.QUERY_TIMEOUT."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.local import processes
from automation.osticket import db
from tests.helpers.osticket import OSTOPS, REPO, ostops

pytestmark = pytest.mark.e2e


def test_status_with_mariadb_frozen_names_it_quickly(osticket: Any) -> None:
    assert osticket.instance.local is not None
    pid = osticket.instance.local.pids["mariadb"]
    assert processes.is_running(pid, "mariadbd")
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = ostops(osticket, "local", "status", "--json", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 4, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert checks["process mariadb"] == {"ok": False, "detail": f"pid {pid} is stopped (frozen by SIGSTOP or a "
                                         f"debugger): it answers nothing until `kill -CONT {pid}`"}
    assert "did not answer within 5 s" in checks["database"]["detail"]
    print(f"local status with MariaDB frozen: {elapsed:.1f} s")
    assert elapsed < 20, f"local status took {elapsed:.1f} s with MariaDB frozen"
    healthy = ostops(osticket, "local", "status")  # thawed, all is well again
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr


def test_statements_keep_the_query_timeout_once_connected(osticket: Any) -> None:
    conn: Any = db.connect(osticket.instance)
    try:
        assert (conn._read_timeout, conn._write_timeout, conn.connect_timeout) == (
            db.QUERY_TIMEOUT, db.QUERY_TIMEOUT, db.CONNECT_TIMEOUT)
        assert db.server_now(conn) is not None
    finally:
        conn.close()


# Issue 19: `run`, `seed`, `verify` and `report` give up on a frozen database within 30 s, naming it. A run frozen
# mid-way waited 95 s before (an HTTP read of 30 s, then a statement on the run's connection of 60 s, then a
# new connection of 5 s); now an HTTP read of 15 s, a look at the database (5 s), and a ping (5 s).
BOUND = 40  # seconds: the target is 30; the rest is room for a loaded machine


@contextlib.contextmanager
def frozen(osticket: Any) -> Iterator[int]:
    assert osticket.instance.local is not None
    pid = osticket.instance.local.pids["mariadb"]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def assert_names_the_database(osticket: Any, stderr: str, pid: int) -> None:
    text = " ".join(stderr.split())
    db_access = osticket.instance.db
    assert f"osTicket's database at {db_access.host}:{db_access.port}" in text, text
    assert f"resume it with `kill -CONT {pid}`" in text, text
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def lab_run(osticket: Any) -> str:
    result = ostops(osticket, "run", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--seed")
    assert result.returncode == 0, result.stdout + result.stderr
    return str(re.findall(r"run (\d{14}-[0-9a-f]{4})", result.stdout + result.stderr)[-1])


@pytest.mark.parametrize("command", ["seed", "verify", "report"])
def test_a_command_started_on_a_frozen_database_names_it(osticket: Any, lab_run: str, command: str) -> None:
    args = {"seed": ["seed", str(REPO / "seed" / "helpdesk.yaml")],
            "verify": ["verify", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--run", lab_run],
            "report": ["report", "--run", lab_run]}[command]
    with frozen(osticket) as pid:
        started = time.monotonic()
        result = ostops(osticket, *args, timeout=120)
        elapsed = time.monotonic() - started
    print(f"{command} with MariaDB frozen: {elapsed:.1f} s")
    assert result.returncode == 4, result.stdout + result.stderr
    assert_names_the_database(osticket, result.stderr, pid)
    assert elapsed < BOUND, f"{command} took {elapsed:.1f} s with MariaDB frozen"


def test_a_run_whose_database_freezes_mid_way_gives_up_naming_it(osticket: Any, tmp_path: Path) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    tickets = "\n".join(f"""  - key: t{i}
    requester: {{name: Karen Doe, email: karen.doe@example.com}}
    subject: Frozen ticket {i}
    message: Ticket {i} of a run whose database freezes.""" for i in range(40))
    scenario = tmp_path / "frozen.yaml"
    scenario.write_text(f"name: frozen\nreview: {{open_tickets: null}}\ntickets:\n{tickets}\n")
    conn: Any = db.connect(osticket.instance)
    tables = db.Tables(osticket.instance.db.table_prefix)
    try:
        after = db.last_ticket_id(conn, tables)
        proc = subprocess.Popen([OSTOPS, "run", str(scenario), "--instance", str(osticket.instance_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        deadline = time.monotonic() + 60
        while db.last_ticket_id(conn, tables) < after + 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
    finally:
        conn.close()
    try:
        assert proc.poll() is None, "the run ended before MariaDB could be frozen"
        with frozen(osticket) as pid:
            started = time.monotonic()
            _, stderr = proc.communicate(timeout=120)
            elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"run with MariaDB frozen mid-way: {elapsed:.1f} s from the freeze to the exit")
    assert proc.returncode == 4, stderr
    assert_names_the_database(osticket, stderr, pid)
    assert "not reconciled" in stderr and "names them once the database answers" in stderr
    assert elapsed < BOUND, f"run took {elapsed:.1f} s after MariaDB froze"
