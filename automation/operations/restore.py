"""``ostops restore``: a checked backup (`archive.open_backup`) brought back as a local help desk, onto a new
instance or over the current one, and the proof that nothing was lost: rows per table equal the manifest, every
run recorded before the backup verifies against its ledger, the admin logs in, the API key is active, the
portal answers."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.errors import ConfigError, OsTicketError, UsageError
from automation.files import write_private
from automation.instance import Instance
from automation.local import manager
from automation.local import source as sources
from automation.operations import archive, mariadb
from automation.operations.archive import Keys, Opened
from automation.osticket import db
from automation.osticket.schema import CONFIG_CORE, CONFIG_FILE, HELPDESK_URL_KEY, Tables
from automation.workspace import Workspace

Stage = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Proof:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # table, rows in the manifest and restored, ok
    runs: list[dict[str, Any]] = field(default_factory=list)  # every recorded run re-verified (RunVerdict.to_dict)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [{"check": name, "ok": ok, "detail": detail} for name, ok, detail in self.checks],
                "rows": self.rows, "runs": self.runs, "problems": self.problems}

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str, problems: list[str] | None = None) -> None:
        self.checks.append((name, ok, detail))
        if not ok:
            self.problems += [f"{name}: {p}" for p in (problems or [detail])]


@dataclass
class RestoreResult:
    instance: Instance
    folder: Path
    proof: Proof
    seconds: float
    previous_backup: Path | None = None


def backed_up_instance(opened: Opened) -> Instance:
    return Instance.model_validate_json(opened.parts[archive.OSTOPS + "instance.json"])


def resolve_source(opened: Opened, explicit: Path | None) -> sources.OsTicketSource:
    """osTicket of the backup's version: ``--source``, else the source the backed-up instance was made from (if
    it is still here), else as `local up` finds it. Another version is bad input (exit 2)."""
    wanted = opened.manifest.osticket_version
    config = opened.parts[archive.CONFIG].decode("utf-8", "replace")
    undefined = [name for name in CONFIG_DATABASE if not re.search(_DEFINE.format(name=name), config)]
    if undefined:
        raise ConfigError(f"{opened.path}: {archive.CONFIG} defines no {', '.join(undefined)}; not an osTicket "
                          "config file, nothing was restored")
    if any(name.startswith(archive.ATTACHMENTS) for name in opened.parts):
        raise UsageError(f"{opened.path}: holds attachments kept outside the database "
                         f"({opened.manifest.attachments}); restoring them is not supported yet")
    if explicit is not None:
        found = sources.from_path(explicit, "--source")
    else:
        old = backed_up_instance(opened).local
        if old is not None and Path(old.source).is_dir():
            # The version `local up` recorded for it (a release's bootstrap.php may say only "1.17.x").
            found = sources.OsTicketSource(Path(old.source), backed_up_instance(opened).osticket_version,
                                           f"the backed-up instance's source {old.source}")
        else:
            found = sources.resolve(None)
    if found.version != wanted:
        raise ConfigError(f"the backup holds osTicket {wanted}, but {found.origin} is osTicket {found.version}; "
                          f"give --source with osTicket {wanted} (restore first, then `ostops upgrade`)")
    return found


def load_database(instance: Instance, sql: bytes) -> float:
    """Every table of the instance's database dropped, then the dump imported; the seconds it took."""
    conn = db.connect(instance)
    try:
        mariadb.drop_tables(conn, instance.db.name)
    finally:
        conn.close()
    return mariadb.load(instance, sql)


CONFIG_DATABASE = ("DBHOST", "DBNAME", "DBUSER", "DBPASS")  # the defines a restore points at its database
# define('NAME', 'value') with either quotes, escaped quotes inside the value allowed.
_DEFINE = r"""define\(\s*['"]{name}['"]\s*,\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\)"""


def config_for(config_php: bytes, instance: Instance) -> bytes:
    """The backed-up ost-config.php, its SECRET_SALT and everything else kept, pointed at this instance's
    database (DBHOST, DBNAME, DBUSER, DBPASS)."""
    text = config_php.decode("utf-8")
    values = {"DBHOST": f"{instance.db.host}:{instance.db.port}", "DBNAME": instance.db.name,
              "DBUSER": instance.db.user, "DBPASS": instance.db.password.get_secret_value()}
    for name, value in values.items():
        pattern = re.compile(_DEFINE.format(name=name))
        if not pattern.search(text):
            raise ConfigError(f"{archive.CONFIG} in the backup defines no {name}; not an osTicket config file")
        literal = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        replacement = f"define('{name}',{literal})"
        text = pattern.sub(lambda _m: replacement, text, count=1)  # noqa: B023 (used at once)
    return text.encode("utf-8")


def write_config(instance: Instance, content: bytes) -> None:
    assert instance.local is not None
    path = Path(instance.local.webroot) / CONFIG_FILE
    if path.exists():
        os.chmod(path, 0o640)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.chmod(tmp, 0o440)  # as `local up` leaves it: read-only
    os.replace(tmp, path)


def restore_new(opened: Opened, directory: Path, source: Path | None = None, port: int | None = None,
                stage: Stage = _quiet) -> RestoreResult:
    """A new local instance in ``directory`` (which must not hold one) with the backup's help desk."""
    started = time.monotonic()
    directory = directory.expanduser().resolve()
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"--dir {directory}: exists and is not empty; name a new or empty folder")
    src = resolve_source(opened, source)
    stage(f"bringing up osTicket {src.version} in {directory}")
    fresh = manager.up(directory, src.webroot, port, progress=stage).instance
    try:
        instance, counts = _take_over(opened, fresh, stage)
    except BaseException:
        manager.down(directory)
        raise
    stage("proving the restore: rows per table, recorded runs, staff login, API key, portal")
    proof = prove(opened, instance, Workspace(manager.instance_file(directory)), counts)
    return RestoreResult(instance, directory, proof, time.monotonic() - started)


def _take_over(opened: Opened, fresh: Instance, stage: Stage) -> tuple[Instance, dict[str, int] | str]:
    """The fresh instance made to hold the backup: its database, config, credentials and ostops's records. With
    it, the rows of each table as imported, counted before any request reaches osTicket (each one writes a
    session row), or why they could not be counted."""
    assert fresh.local is not None
    base = Path(fresh.local.dir)
    old = backed_up_instance(opened)
    instance = fresh.model_copy(deep=True)
    instance.db.table_prefix = opened.manifest.table_prefix
    instance.osticket_version = opened.manifest.osticket_version  # a release's bootstrap.php may say "1.17.x"
    # The restored database holds the backed-up admin and API key, not the ones the fresh install made.
    instance.admin, instance.api_key, instance.api_key_ip = old.admin, old.api_key, old.api_key_ip
    stage("importing osTicket's database")
    load_database(instance, opened.parts[archive.DATABASE])
    _point_at(instance, old)
    counts: dict[str, int] | str
    try:
        counts = mariadb.count_rows(instance)
    except OsTicketError as exc:
        counts = str(exc)
    stage("putting back ost-config.php (SECRET_SALT kept), credentials, runs and mail")
    write_config(instance, config_for(opened.parts[archive.CONFIG], instance))
    credentials = opened.parts.get(archive.OSTOPS + "credentials.json")
    if credentials is not None:
        write_private(base / "credentials.json", credentials.decode("utf-8"))
    for sub in ("runs", "mail"):
        for name, data in opened.ostops_files(sub).items():
            target = base / sub / Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if sub == "runs":
                write_private(target, data.decode("utf-8"))
            else:
                target.write_bytes(data)
    instance.save(manager.instance_file(base))
    stage("restarting php-fpm on the restored code and config")
    manager.restart_php(instance)
    return instance, counts


def _point_at(instance: Instance, old: Instance) -> None:
    """The restored settings that name the old instance's address: the help desk URL, and the SMTP account on
    the old instance's mail catcher (installer.php made it: host 127.0.0.1, its port)."""
    assert instance.local is not None
    t = Tables(instance.db.table_prefix)
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"UPDATE {t.config} SET value = %s WHERE namespace = %s AND `key` = %s",
                        (instance.base_url, CONFIG_CORE, HELPDESK_URL_KEY))
            if old.local is not None and old.local.smtp_port and instance.local.smtp_port:
                cur.execute(f"UPDATE {t.email_account} SET port = %s WHERE type = 'smtp' AND host = '127.0.0.1' "
                            "AND port = %s", (instance.local.smtp_port, old.local.smtp_port))
    finally:
        conn.close()


def restore_over(opened: Opened, workspace: Workspace, keys: Keys, source: Path | None = None,
                 stage: Stage = _quiet, confirm: Callable[[str], bool] | None = None) -> RestoreResult:
    """Over the workspace's local instance: asked, backed up first, then replaced (the old one is put back if
    the restore fails before its proof)."""
    from automation.operations.backup import backup

    started = time.monotonic()
    current = workspace.instance()
    if current.local is None:
        raise UsageError(f"{workspace.instance_file}: an {current.kind} instance; restore onto a new local "
                         "instance with --dir")
    src = resolve_source(opened, source)
    base = Path(current.local.dir)
    question = (f"Replace the help desk at {current.base_url} ({base}: its database, tickets and runs) with the "
                f"backup of {opened.manifest.created}? It is backed up first")
    if confirm is not None and not confirm(question):
        raise UsageError(f"{base}: not replaced; nothing was changed")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    previous = base.parent / f"{base.name}.pre-restore-{stamp}.age"
    stage(f"backing up the instance it replaces to {previous}")
    backup(workspace, previous, keys.public(), stage, instance=current)
    port = current.local.http_port

    def build() -> tuple[Instance, dict[str, int] | str]:
        fresh = manager.up(base, src.webroot, port, progress=stage).instance
        try:
            return _take_over(opened, fresh, stage)
        except BaseException:
            manager.down(base)
            raise

    instance, counts = manager.swap(base, current, build, stage)
    stage("proving the restore: rows per table, recorded runs, staff login, API key, portal")
    proof = prove(opened, instance, workspace, counts)
    return RestoreResult(instance, base, proof, time.monotonic() - started, previous)


def restore_test(opened: Opened, keys: Keys, source: Path | None = None, stage: Stage = _quiet) -> Proof:
    """Restore into a throwaway local instance, prove it, and tear it down whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="ostops-restore-test-"))
    try:
        return restore_new(opened, folder / "instance", source, None, stage).proof
    finally:
        try:
            manager.down(folder / "instance")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def prove(opened: Opened, instance: Instance, workspace: Workspace, counts: dict[str, int] | str) -> Proof:
    """Each check of a restored help desk, named, with what differs; ``counts``: its rows per table as imported
    (or why they could not be counted)."""
    from automation.operations.reverify import reverify_runs
    from automation.osticket.http import new_session
    from automation.osticket.staff import StaffSession

    proof = Proof()
    wanted = opened.manifest.rows
    if isinstance(counts, str):
        proof.add("rows per table", False, counts)
    else:
        actual = counts
        proof.rows = [{"table": table, "manifest": wanted.get(table), "restored": actual.get(table),
                       "ok": wanted.get(table) == actual.get(table)} for table in sorted(set(wanted) | set(actual))]
        differ = [f"{table}: {rows} in the backup, {actual.get(table, 'no table')} restored"
                  for table, rows in sorted(wanted.items()) if actual.get(table) != rows]
        differ += [f"{table}: not in the backup" for table in sorted(set(actual) - set(wanted))]
        proof.add("rows per table", not differ,
                  f"{len(wanted)} tables, {sum(wanted.values())} rows, as in the manifest" if not differ
                  else f"{len(differ)} table(s) differ", differ)
    runs = reverify_runs(workspace, opened.manifest.runs, instance)
    proof.runs = [run.to_dict() for run in runs.runs]
    proof.add("recorded runs", runs.passed, runs.summary() + " against their ledgers", runs.problems())
    staff = StaffSession(instance.base_url, instance.admin.username, instance.admin.password.get_secret_value())
    try:
        staff.login()
        proof.add("staff login", True, f"{instance.admin.username} logs in to {instance.base_url}scp/")
    except OsTicketError as exc:
        proof.add("staff login", False, str(exc))
    finally:
        staff.close()
    health = manager.status(instance)
    ok, detail = health.checks.get("api key", (False, "not checked"))
    proof.add("API key", ok, detail)
    with new_session() as http:
        try:
            page = http.get(instance.base_url + "open.php", timeout=(5, 30))
            answered = page.status_code == 200 and "__CSRFToken__" in page.text
            proof.add("portal", answered, f"GET {instance.base_url}open.php -> {page.status_code}"
                      + ("" if answered else " without the Open a New Ticket form"))
        except Exception as exc:  # noqa: BLE001 (requests' errors, named in the check)
            proof.add("portal", False, f"GET {instance.base_url}open.php -> {type(exc).__name__}")
    return proof
