"""Helpers for tests against a real osTicket: the CLI as a user runs it, and read-only SQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from automation.osticket.db import connect

REPO = Path(__file__).resolve().parents[2]
OSTOPS = str(Path(sys.executable).parent / "ostops")


def ostops(osticket: Any, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the real ``ostops`` command against the fixture's instance file."""
    return subprocess.run([OSTOPS, *args, "--instance", str(osticket.instance_path)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, check=False)


def query(osticket: Any, sql: str, args: Any = None) -> list[dict[str, Any]]:
    """``ost_`` in ``sql`` is replaced by the instance's table prefix."""
    conn = connect(osticket.instance)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.replace("ost_", osticket.instance.db.table_prefix), args)
            return list(cur.fetchall())
    finally:
        conn.close()


def staff_login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "scp/login.php", timeout=30)
    token = re.search(r'name="__CSRFToken__"\s+value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    resp = session.post(base + "scp/login.php", data={"__CSRFToken__": token.group(1), "userid": username,
                                                      "passwd": password, "do": "scplogin"},
                        allow_redirects=False, timeout=30)
    assert resp.status_code == 302, f"{username}: login answered {resp.status_code}"
    assert resp.headers["Location"].endswith("index.php")
    return session


# The ticket ids of one run, by the hidden run field (`automation.osticket.runfield`): ``t.ticket_id IN
# {RUN_TICKETS}`` with the argument ``run_arg(run_id)``.
RUN_TICKETS = """(SELECT re.object_id FROM ost_form_entry re JOIN ost_form_entry_values rv ON rv.entry_id = re.id
                  JOIN ost_form_field rf ON rf.id = rv.field_id
                  WHERE re.object_type = 'T' AND rf.name = 'ostops_run' AND rv.value LIKE %s)"""


def run_arg(run_id: str) -> str:
    return f"{run_id} %"


def run_field(osticket: Any, ticket_id: int) -> str | None:
    rows = query(osticket, """SELECT v.value FROM ost_form_entry e JOIN ost_form_entry_values v ON v.entry_id = e.id
                              JOIN ost_form_field f ON f.id = v.field_id
                              WHERE e.object_type = 'T' AND e.object_id = %s AND f.name = 'ostops_run'""",
                 [ticket_id])
    return rows[0]["value"] if rows else None


# The run field's value (``<run id> <key>``) of the ticket ``t`` as a SELECT column: ``{RUN_MARK} AS run_mark``.
RUN_MARK = """(SELECT mv.value FROM ost_form_entry me JOIN ost_form_entry_values mv ON mv.entry_id = me.id
               JOIN ost_form_field mf ON mf.id = mv.field_id
               WHERE me.object_type = 'T' AND me.object_id = t.ticket_id AND mf.name = 'ostops_run' LIMIT 1)"""
