"""Helpers for the fault tests: ``ostops`` started in the background, the servers' processes found and killed,
and the run's tickets as osTicket's database holds them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

from automation.instance import Instance
from automation.osticket import db
from tests.helpers.osticket import OSTOPS, REPO, RUN_TICKETS, query, run_arg


def start(osticket: Any, *args: str) -> subprocess.Popen[str]:
    """``ostops`` against the fixture's instance, running while the test breaks its servers."""
    return subprocess.Popen([OSTOPS, *args, "--instance", str(osticket.instance_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    """Its output once it ends; killed if it outlives the timeout (the test then fails on its exit code)."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def last_id(osticket: Any) -> int:
    conn = db.connect(osticket.instance)
    try:
        return db.last_ticket_id(conn, db.Tables(osticket.instance.db.table_prefix))
    finally:
        conn.close()


def wait_for_tickets(osticket: Any, proc: subprocess.Popen[str], after: int, count: int,
                     timeout: float = 120, poll: float = 0.05) -> None:
    """Until ``count`` tickets exist above ``after``; the command must still be running then."""
    deadline = time.monotonic() + timeout
    while last_id(osticket) < after + count and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(poll)
    assert proc.poll() is None, "the command ended before it could be interrupted"


def tickets_in_db(osticket: Any, run_id: str, after: int) -> set[str]:
    """The run's tickets as the database holds them: its run field, or no subject at all, above ``after``."""
    rows = query(osticket, f"""SELECT t.number FROM ost_ticket t LEFT JOIN ost_ticket__cdata cd
                              ON cd.ticket_id = t.ticket_id
                              WHERE t.ticket_id > %s AND (t.ticket_id IN {RUN_TICKETS} OR cd.subject IS NULL)""",
                 [after, run_arg(run_id)])
    return {str(r["number"]) for r in rows}


def pid_of(osticket: Any, service: str) -> int:
    """From the instance file: a restart (`local up`) starts new processes."""
    local = Instance.load(osticket.instance_path).local
    assert local is not None
    return local.pids[service]


def fpm_workers(master: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def kill_fpm_workers_while_running(master: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Kill php-fpm's workers as the master starts new ones, until the command ends (or the timeout)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        for pid in fpm_workers(master):
            with contextlib.suppress(ProcessLookupError):  # it may have ended since it was listed
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
