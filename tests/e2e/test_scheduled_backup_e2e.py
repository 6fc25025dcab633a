"""Issue 21: `ostops instance status` reading the last scheduled backup from a real MariaDB.

The VM's nightly task is PowerShell and runs only on Azure; what ostops reads is its table,
``ostops_ops.backup_log``. So the local test instance is made to look scheduled the way an Azure one is: its
instance file names a backup container (as `from-stack` writes it), and the table is created as root with the
contract's DDL and SELECT granted to osTicket's user (as the bootstrap does). Rows are then written as the task
writes them, times from the server's own clock, and the real command judges each state."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation import scheduled_backups
from automation.local.database import root_connection
from tests.conftest import LocalOsTicket
from tests.helpers.osticket import OSTOPS, REPO

pytestmark = pytest.mark.e2e

CONTAINER = "https://ostopsbkabc123def4.blob.core.windows.net/osticket-backups"
# The task's message as it could come back from the upload or the dump: quotes, &, <, accents, CJK.
FAILURE = "Upload failed: 403 \"AuthorizationPermissionMismatch\" for <osticket-2026.age> & retry — «réessayer» 再試行"


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """A fresh local osTicket of this module's own, on a port the system picks (the default one may be another
    test session's on a shared machine)."""
    import os
    import shutil
    import socket
    import tempfile

    from automation.local import manager

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = Path(tempfile.mkdtemp(prefix="ostops-e2e-backup-"))
    try:
        result = manager.up(base / "instance", http_port=port)
        yield LocalOsTicket(result.instance, manager.instance_file(base / "instance"), base / "instance")
    finally:
        manager.down(base / "instance")
        if not os.environ.get("OSTOPS_KEEP_E2E"):
            shutil.rmtree(base, ignore_errors=True)


def root(osticket: LocalOsTicket) -> Any:
    local = osticket.instance.local
    assert local is not None
    return root_connection(Path(local.dir), local.db_root_password.get_secret_value())


def as_root(osticket: LocalOsTicket, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = root(osticket)
    try:
        with conn.cursor() as cur:
            for sql, args in statements:
                cur.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def record(osticket: LocalOsTicket, hours_ago: float, ok: bool, blob: str | None, size: int | None,
           message: str) -> None:
    """One attempt as the task writes it: started a few seconds before it finished, UTC from the server."""
    sql = (f"INSERT INTO {scheduled_backups.TABLE} (started_utc, finished_utc, ok, blob_name, bytes, sha256, message) "
           "VALUES (UTC_TIMESTAMP() - INTERVAL %s SECOND - INTERVAL 9 SECOND, UTC_TIMESTAMP() - INTERVAL %s SECOND, "
           "%s, %s, %s, %s, %s)")
    seconds = int(hours_ago * 3600)
    as_root(osticket, (sql, (seconds, seconds, int(ok), blob, size, "ab" * 32 if ok else None, message)))


def status(instance_file: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([OSTOPS, "instance", "status", "--json", "--instance", str(instance_file)],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.stdout.strip(), done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, document


@pytest.fixture
def scheduled(osticket: LocalOsTicket, tmp_path: Path) -> Iterator[Path]:
    """The instance file as `from-stack` writes it for a stack with scheduled backups; the schema dropped after."""
    path = tmp_path / "scheduled" / "instance.json"
    path.parent.mkdir()
    osticket.instance.model_copy(update={"backup_container_url": CONTAINER}).save(path)
    try:
        yield path
    finally:
        as_root(osticket, (f"DROP DATABASE IF EXISTS {scheduled_backups.SCHEMA}", ()))


def test_status_reports_each_state_of_the_scheduled_backup(osticket: LocalOsTicket, scheduled: Path) -> None:
    user = osticket.instance.db.user

    # An instance without scheduled backups is not held to them.
    code, plain = status(osticket.instance_path)
    assert "scheduled backup" not in plain["checks"], plain

    # Scheduled, but nothing set up on the server: unhealthy, said plainly.
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 4 and check["ok"] is False, report
    assert check["detail"].startswith("scheduled backups not set up"), check

    # The table as the bootstrap creates it, readable by osTicket's user: nothing recorded yet, just set up.
    as_root(
        osticket,
        (f"CREATE DATABASE IF NOT EXISTS {scheduled_backups.SCHEMA}", ()),
        (scheduled_backups.CREATE_TABLE, ()),
        (f"GRANT SELECT ON {scheduled_backups.TABLE} TO %s@'127.0.0.1'", (user,)),
        (f"GRANT SELECT ON {scheduled_backups.TABLE} TO %s@'localhost'", (user,)),
    )
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 0 and check["ok"] is True, report
    assert re.fullmatch(r"no backup recorded yet \(set up \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): the first runs at "
                        r"the next scheduled time", check["detail"]), check

    # Last night's backup: healthy, with when, how old, how big and which blob.
    record(osticket, 2, True, "osticket-20261206T023000Z.age", 66_300_000, "ok")
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 0 and report["ok"] is True, report
    assert re.fullmatch(r"last backup: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((1 h 59|2 h 0) min ago\), 66\.3 MB, "
                        r"osticket-20261206T023000Z\.age", check["detail"]), check

    # A later attempt failed: unhealthy, the task's own message shown as written, the last success beside it.
    record(osticket, 0.2, False, None, None, FAILURE)
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 4 and check["ok"] is False, report
    assert f": {FAILURE}; last backup: " in check["detail"], check

    # The next night succeeds again: healthy.
    record(osticket, 0.1, True, "osticket-20261207T023000Z.age", 1_500, "ok")
    code, report = status(scheduled)
    assert code == 0 and report["checks"]["scheduled backup"]["detail"].endswith(", 1.5 kB, osticket-20261207T023000Z.age")

    # Only an old success: stale after 26 h.
    as_root(osticket, (f"DELETE FROM {scheduled_backups.TABLE}", ()))
    record(osticket, 27, True, "osticket-20261205T023000Z.age", 66_300_000, "ok")
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 4 and check["ok"] is False, report
    assert "(1 d 3 h ago)" in check["detail"] and "older than 26 h" in check["detail"], check

    # The grant taken away: named as the cause, with MariaDB's own words.
    for host in ("127.0.0.1", "localhost"):
        as_root(osticket, (f"REVOKE SELECT ON {scheduled_backups.TABLE} FROM %s@'{host}'", (user,)))
    code, report = status(scheduled)
    check = report["checks"]["scheduled backup"]
    assert code == 4 and check["detail"].startswith(f"scheduled backups not set up, or {user} may not read"), check
    assert "command denied" in check["detail"], check
