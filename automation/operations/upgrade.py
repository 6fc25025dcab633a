"""``ostops upgrade --to VERSION``: a local help desk moved to a new osTicket release by osTicket's own
headless upgrader, proven by re-verifying every run recorded before it, and rolled back on any failure.

Steps (each named in the error when it fails): preconditions → backup → new code → upgrader → schema signature
→ smoke → runs. From "new code" on, a failure rolls back: the old code put back, the database restored from the
backup's dump, php-fpm restarted, and the recorded runs re-verified on the old help desk."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.errors import ConfigError, Interrupted, OsTicketError, UpgradeError, UsageError
from automation.instance import Instance
from automation.local import manager, webserver
from automation.local import source as sources
from automation.operations.archive import Keys
from automation.osticket import db
from automation.osticket.schema import (
    CONFIG_CORE,
    CONFIG_FILE,
    SCHEMA_SIGNATURE_FILE,
    SCHEMA_SIGNATURE_KEY,
    Tables,
)
from automation.versions import parse_version
from automation.workspace import Workspace

Stage = Callable[[str], None]
UPGRADER_TIMEOUT = 900.0  # seconds for `php manage.php upgrade` as a whole
# The CLI upgrader (include/cli/modules/upgrade.php) loops while an upgrade is pending: a patch that fails is
# tried again and again. It prints "... <version>" before each attempt; this many attempts at one is a failure.
UPGRADER_REPEATS = 3
# include/class.setup.php: `static protected $prereq = array('php' => '8.0', 'mysql' => '5.0');`
_PHP_PREREQ = re.compile(r"""['"]php['"]\s*=>\s*['"]([0-9.]+)['"]""")


def _quiet(_: str) -> None:
    return None


@dataclass
class Steps:
    """Each step as it ran: its name, whether it passed, how long it took."""

    done: list[dict[str, Any]] = field(default_factory=list)
    current: str = ""  # the step started last (the failed one, when one fails)
    _started: float | None = None

    def start(self, name: str) -> None:
        self.current, self._started = name, time.monotonic()

    def end(self, ok: bool = True) -> None:
        if self._started is not None:
            self.done.append({"step": self.current, "ok": ok,
                              "seconds": round(time.monotonic() - self._started, 2)})
            self._started = None


@dataclass
class UpgradeResult:
    from_version: str
    to_version: str
    backup: Path
    seconds: float
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    schema_signature: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)  # every recorded run re-verified after it

    def to_dict(self) -> dict[str, Any]:
        return {"from_version": self.from_version, "to_version": self.to_version, "backup": str(self.backup),
                "seconds": round(self.seconds, 2), "schema_signature": self.schema_signature, "steps": self.steps,
                "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in self.checks], "runs": self.runs,
                "rollback": None}


@dataclass
class Release:
    source: sources.OsTicketSource
    signature: str
    php_minimum: str


def read_release(src: sources.OsTicketSource) -> Release:
    webroot = src.webroot
    try:
        signature = (webroot / SCHEMA_SIGNATURE_FILE).read_text(encoding="utf-8").strip()
        setup = (webroot / "include" / "class.setup.php").read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{src.origin}: not an osTicket release with an upgrader ({exc.filename}: "
                          f"{exc.strerror})") from exc
    if not (webroot / "manage.php").is_file():
        raise ConfigError(f"{src.origin}: no manage.php (osTicket's command line) in it")
    match = _PHP_PREREQ.search(setup)
    return Release(src, signature, match.group(1) if match else "0")


def _signature(instance: Instance) -> str:
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT value FROM {Tables(instance.db.table_prefix).config} WHERE namespace = %s "
                        "AND `key` = %s", (CONFIG_CORE, SCHEMA_SIGNATURE_KEY))
            row = cur.fetchone()
        return str(row["value"]) if row else ""
    finally:
        conn.close()


def _plugins(instance: Instance) -> list[str]:
    """The install paths (relative to include/) of the plugins osTicket has installed."""
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT install_path FROM {Tables(instance.db.table_prefix).plugin}")
            return [str(r["install_path"]) for r in cur.fetchall() if r["install_path"]]
    finally:
        conn.close()


def _database_bytes(instance: Instance) -> int:
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute("SELECT COALESCE(SUM(data_length + index_length), 0) AS n FROM information_schema.tables "
                        "WHERE table_schema = %s", (instance.db.name,))
            return int(cur.fetchone()["n"])
    finally:
        conn.close()


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def preconditions(instance: Instance, release: Release, version: str) -> list[tuple[str, bool, str]]:
    """Every precondition, checked before anything is touched; a failed one is bad input (exit 2)."""
    assert instance.local is not None
    problems: list[str] = []
    checks: list[tuple[str, bool, str]] = []
    src = release.source
    target, current = parse_version(version), parse_version(instance.osticket_version)
    if parse_version(src.version) != target:
        problems.append(f"--to {version}, but {src.origin} is osTicket {src.version}")
    elif target is not None and current is not None and target <= current:
        problems.append(f"--to {version}: the instance already runs osTicket {instance.osticket_version}")
    checks.append(("version", not problems, f"{instance.osticket_version} -> {src.version} from {src.origin}"))
    php = webserver.php_version()
    supported = sources.php_range(src.webroot)  # the release's README.md: "PHP version 8.1 - 8.2"
    if supported is not None:
        low, high = supported
        php_ok = low <= php <= high
        wanted = f"{low[0]}.{low[1]}-{high[0]}.{high[1]} (its README.md)"
    else:  # no stated range: the upgrader's own minimum
        php_ok = php >= (parse_version(release.php_minimum) or (0,))[:2]
        wanted = f"{release.php_minimum} or later (include/class.setup.php)"
    shown = f"{php[0]}.{php[1]}"
    allowed = not php_ok and os.environ.get(manager.ALLOW_UNSUPPORTED_PHP) == "1"  # as `local up` allows it
    checks.append(("PHP", php_ok or allowed, f"PHP {shown}; osTicket {src.version} supports {wanted}"
                   + (f"; going on because {manager.ALLOW_UNSUPPORTED_PHP}=1" if allowed else "")))
    if not php_ok and not allowed:
        problems.append(f"PHP {shown} is not among the releases osTicket {src.version} supports: {wanted}; "
                        f"install a PHP it supports, or set {manager.ALLOW_UNSUPPORTED_PHP}=1 at your own risk")
    old_include = Path(instance.local.webroot) / "include"
    missing = [p for p in _plugins(instance) if not (old_include / p).exists()
               and not (src.webroot / "include" / p).exists()]
    checks.append(("plugins", not missing, "every installed plugin is present" if not missing
                   else f"missing: {', '.join(missing)}"))
    if missing:
        problems.append(f"installed plugins whose files are missing (include/…): {', '.join(missing)}")
    base = Path(instance.local.dir)
    needed = _tree_bytes(src.webroot) + 3 * _database_bytes(instance) + 64 * 2**20
    free = shutil.disk_usage(base).free
    checks.append(("free space", free >= needed, (f"{free / 2**30:.1f} GiB free in {base}, "
                                                 f"{needed / 2**20:.0f} MiB needed")))
    if free < needed:
        problems.append(f"{base}: {free / 2**20:.0f} MiB free, the upgrade needs {needed / 2**20:.0f} MiB "
                        "(new code, the backup, the database growing)")
    if problems:
        raise UsageError("the upgrade cannot start; nothing was changed", problems)
    return checks


def run_upgrader(instance: Instance, timeout: float = UPGRADER_TIMEOUT) -> str:
    """``php manage.php upgrade`` in the web root; its output. Fails on a non-zero exit, on no "All finished",
    and on the same patch attempted UPGRADER_REPEATS times (the CLI upgrader retries a failing patch forever)."""
    assert instance.local is not None
    webroot = Path(instance.local.webroot)
    proc = subprocess.Popen([webserver.php_cli(), "manage.php", "upgrade"], cwd=webroot, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killed = threading.Event()

    def watchdog() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, watchdog)
    timer.start()
    lines: list[str] = []
    attempts: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("... "):
                attempts[line] = attempts.get(line, 0) + 1
                if attempts[line] >= UPGRADER_REPEATS:
                    proc.kill()
                    raise OsTicketError(f"osTicket's upgrader attempted {line[4:].strip()!r} {UPGRADER_REPEATS} "
                                        "times without getting past it: " + _last_error(instance))
        code = proc.wait(timeout=30)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "\n".join(lines)
    if killed.is_set():
        raise OsTicketError(f"osTicket's upgrader did not finish within {timeout:.0f} s")
    if code != 0 or "All finished" not in text:
        raise OsTicketError(f"osTicket's upgrader failed (exit {code}): {text[-800:] or 'no output'}; "
                            + _last_error(instance))
    return text


def _last_error(instance: Instance) -> str:
    """osTicket's own message: the newest upgrader error in its system log."""
    try:
        conn = db.connect(instance)
        try:
            with db.cursor(conn) as cur:
                cur.execute(f"SELECT title, log FROM {Tables(instance.db.table_prefix).syslog} "
                            "WHERE log_type = 'Error' ORDER BY log_id DESC LIMIT 1")
                row = cur.fetchone()
        finally:
            conn.close()
    except OsTicketError:
        return "(osTicket's system log could not be read)"
    return f"osTicket logged: {row['title']}: {str(row['log'])[:400]}" if row else "(nothing in osTicket's log)"


def smoke(instance: Instance) -> list[tuple[str, bool, str]]:
    """A ticket through the API, the admin's staff login, the portal's open form; raises on the first failure."""
    from automation.osticket.api import NewTicket, TicketApi
    from automation.osticket.http import new_session
    from automation.osticket.staff import StaffSession

    api = TicketApi(instance.base_url, instance.api_key.get_secret_value())
    try:
        number = api.create_ticket(NewTicket(name="ostops upgrade", email="upgrade-check@example.com",
                                             subject=f"ostops upgrade smoke test ({instance.osticket_version})",
                                             message="A ticket through the API after the upgrade.",
                                             alert=False, autorespond=False))
    finally:
        api.close()
    staff = StaffSession(instance.base_url, instance.admin.username, instance.admin.password.get_secret_value())
    try:
        staff.login()
    finally:
        staff.close()
    with new_session() as http:
        page = http.get(instance.base_url + "open.php", timeout=(5, 30))
    if page.status_code != 200 or "__CSRFToken__" not in page.text:
        raise OsTicketError(f"the portal: GET {instance.base_url}open.php answered {page.status_code} without "
                            "the Open a New Ticket form")
    return [("API ticket", True, f"#{number} created"), ("staff login", True, f"{instance.admin.username}"),
            ("portal", True, "open.php answers with its form")]


def upgrade(workspace: Workspace, instance: Instance, version: str, source: Path | None, keys: Keys,
            backup_output: Path | None = None, stage: Stage = _quiet) -> UpgradeResult:
    from automation.operations.backup import backup, default_output
    from automation.operations.reverify import reverify_runs

    started = time.monotonic()
    if instance.local is None:
        raise UsageError(f"{workspace.instance_file}: an {instance.kind} instance; `ostops upgrade` upgrades local "
                         "instances (on Azure the bootstrap's upgrade mode does)")
    local = instance.local
    steps = Steps()
    stage("checking the release and the preconditions")
    steps.start("preconditions")
    release = read_release(sources.resolve(source))
    checks = preconditions(instance, release, version)
    before = reverify_runs(workspace, instance=instance)
    if not before.passed:
        raise UsageError("recorded runs do not verify before the upgrade; nothing was changed (an upgrade "
                         "could not prove itself against them)", before.problems())
    steps.end()
    stage("backing up first")
    steps.start("backup")
    target = backup_output or default_output(workspace).with_name(
        f"pre-upgrade-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.age")
    saved = backup(workspace, target, keys, stage, instance=instance)
    checks.append(("backup", True, f"{saved.path} ({saved.size / 1e6:.1f} MB)"))
    steps.end()
    webroot = Path(local.webroot)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    old_code = webroot.with_name(f"{webroot.name}.old-{stamp}")
    new_code = webroot.with_name(f"{webroot.name}.new-{stamp}")
    old_version = instance.osticket_version
    runs: list[dict[str, Any]] = []
    try:
        stage(f"putting osTicket {release.source.version} in place (ost-config.php kept)")
        steps.start("new code")
        _prepare_code(webroot, new_code, release.source.webroot)
        webroot.rename(old_code)
        new_code.rename(webroot)
        manager.restart_php(instance)
        steps.end()
        stage("running osTicket's upgrader (php manage.php upgrade)")
        steps.start("upgrader")
        run_upgrader(instance)
        shutil.rmtree(webroot / "setup", ignore_errors=True)
        checks.append(("upgrader", True, "php manage.php upgrade: all finished; setup/ removed"))
        steps.end()
        steps.start("schema signature")
        found = _signature(instance)
        if found != release.signature:
            raise OsTicketError(f"the database's schema signature is {found}, the release's core.sig "
                                f"{release.signature}")
        checks.append(("schema signature", True, f"{found} = include/upgrader/streams/core.sig"))
        steps.end()
        stage("smoke test: API ticket, staff login, portal")
        steps.start("smoke")
        instance.osticket_version = release.source.version
        checks += smoke(instance)
        steps.end()
        stage("re-verifying every recorded run")
        steps.start("runs")
        after = reverify_runs(workspace, instance=instance)
        runs = [run.to_dict() for run in after.runs]
        if not after.passed:
            raise OsTicketError(after.summary(), after.problems())
        checks.append(("recorded runs", True, after.summary()))
        steps.end()
    except BaseException as exc:
        steps.end(ok=False)
        instance.osticket_version = old_version
        shutil.rmtree(new_code, ignore_errors=True)  # prepared but never swapped in
        rollback = _roll_back(workspace, instance, webroot, old_code, saved.database, stage)
        if isinstance(exc, KeyboardInterrupt | Interrupted):  # rolled back; still a stop, not a failure
            raise
        problems = list(exc.problems) if isinstance(exc, OsTicketError) else []
        report = {"from_version": old_version, "to_version": release.source.version, "backup": str(saved.path),
                  "seconds": round(time.monotonic() - started, 2), "failed_step": steps.current,
                  "error": str(exc), "steps": steps.done,
                  "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in checks], "runs": runs,
                  "rollback": rollback}
        raise UpgradeError(steps.current, f"{exc}; {rollback['detail']}", problems, report) from exc
    local.source = str(release.source.webroot)
    local.source_origin = release.source.origin
    instance.save(workspace.instance_file)
    shutil.rmtree(old_code, ignore_errors=True)
    return UpgradeResult(old_version, release.source.version, saved.path, time.monotonic() - started, checks,
                         steps.done, found, runs)


def _prepare_code(webroot: Path, new_code: Path, release_webroot: Path) -> None:
    """The release's code beside the old, with the old ost-config.php (read-only) and the old plugins."""
    manager.copy_webroot(release_webroot, new_code)
    config = new_code / CONFIG_FILE
    shutil.copy2(webroot / CONFIG_FILE, config)
    os.chmod(config, 0o440)
    plugins = webroot / "include" / "plugins"
    if plugins.is_dir():
        for item in plugins.iterdir():
            target = new_code / "include" / "plugins" / item.name
            if not target.exists():
                if item.is_dir():
                    shutil.copytree(item, target)
                else:
                    shutil.copy2(item, target)


def _roll_back(workspace: Workspace, instance: Instance, webroot: Path, old_code: Path, database: list[bytes],
               stage: Stage) -> dict[str, Any]:
    """The old code back, the database restored from the backup's dump, php-fpm restarted; the runs
    re-verified. Returns what the rollback achieved: ``ok``, ``detail`` (for the error), ``seconds``, ``runs``."""
    started = time.monotonic()

    def outcome(ok: bool, detail: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"ok": ok, "detail": detail, "seconds": round(time.monotonic() - started, 2), "runs": runs}

    from automation.operations.restore import load_database
    from automation.operations.reverify import reverify_runs

    stage("rolling back: the old code and the database from the backup")
    try:
        if old_code.exists():
            if webroot.exists():
                webroot.rename(webroot.with_name(f"{webroot.name}.failed-{old_code.name.rsplit('-', 1)[-1]}"))
            old_code.rename(webroot)
        load_database(instance, b"".join(database))
        manager.restart_php(instance)
        instance.save(workspace.instance_file)
        runs = reverify_runs(workspace, instance=instance)
    except OsTicketError as exc:
        return outcome(False, f"the rollback failed too ({exc}); restore the backup taken first with "
                       "`ostops restore`", [])
    verdicts = [run.to_dict() for run in runs.runs]
    if not runs.passed:
        return outcome(False, f"rolled back to osTicket {instance.osticket_version}, but {runs.summary()}", verdicts)
    return outcome(True, f"rolled back to osTicket {instance.osticket_version} (old code, database restored); "
                   f"{runs.summary()}", verdicts)
