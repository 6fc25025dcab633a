"""``ostops backup``: one encrypted archive of everything needed to bring a local help desk back, and
``ostops backup verify``: its hashes, manifest and decryptability (and, with ``--restore-test``, a restore into a
throwaway instance where every recorded run verifies)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from automation.errors import BackupError, BackupRejected, UsageError
from automation.instance import Instance
from automation.operations import archive, mariadb
from automation.operations.archive import Keys, Manifest, Part
from automation.osticket import db
from automation.osticket.schema import CONFIG_CORE, CONFIG_FILE, SCHEMA_SIGNATURE_KEY, UPLOAD_PATH_KEY, Tables
from automation.workspace import Workspace

Stage = Callable[[str], None]  # a step's description, as it starts
Bytes = Callable[[int], None]  # bytes dumped so far


def _quiet(_: object) -> None:
    return None


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    size: int
    seconds: float
    dump_seconds: float
    database: bytes = b""  # the dump, kept for a rollback (`ostops upgrade`)


def default_output(workspace: Workspace) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return workspace.folder / "backups" / f"ostops-backup-{stamp}.age"


def backup(workspace: Workspace, output: Path, keys: Keys, stage: Stage = _quiet, dumped: Bytes = _quiet,
           instance: Instance | None = None) -> BackupResult:
    """Dump, collect, pack, encrypt and write. Nothing is written until the whole archive is encrypted."""
    started = time.monotonic()
    instance = instance or workspace.instance()
    if instance.local is None:
        raise UsageError(f"{workspace.instance_file}: an {instance.kind} instance; `ostops backup` backs up local "
                         "instances (the Azure VM's backup runs on the VM itself)")
    webroot = Path(instance.local.webroot)
    config_php = _read(webroot / CONFIG_FILE)
    if not archive.secret_salt_present(config_php):
        raise BackupError(f"{webroot / CONFIG_FILE}: no SECRET_SALT defined; a backup without it could not bring "
                          "back osTicket's stored mail passwords or links")
    stage("reading osTicket's schema signature and attachment storage")
    signature, upload_paths = _osticket_facts(instance)
    stage("dumping osTicket's database (mariadb-dump --single-transaction)")
    dump = mariadb.dump(instance, dumped)
    stage("collecting ost-config.php, attachments and ostops's records")
    parts: dict[str, bytes] = {archive.DATABASE: dump.sql, archive.CONFIG: config_php}
    attachments = "database"
    for folder in upload_paths:
        attachments = f"filesystem: {folder}"
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            parts[archive.ATTACHMENTS + file.relative_to(folder).as_posix()] = _read(file)
    parts.update(ostops_records(workspace))
    runs = sorted(name[len(archive.OSTOPS + "runs/"):-5] for name in parts
                  if name.startswith(archive.OSTOPS + "runs/") and name.endswith(".json"))
    manifest = Manifest(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), ostops_version=_ostops_version(),
        osticket_version=instance.osticket_version, schema_signature=signature,
        table_prefix=instance.db.table_prefix, database=instance.db.name, dump_tool=dump.tool,
        instance_kind=instance.kind, instance_url=instance.base_url, rows=dump.rows,
        parts={name: Part(sha256=dump.sha256 if name == archive.DATABASE else archive.sha256(data), size=len(data))
               for name, data in parts.items()},
        runs=runs, attachments=attachments)
    stage("encrypting (age)")
    ciphertext = keys.encrypt(archive.pack(manifest, parts))
    stage(f"writing {output}")
    output.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    archive.write(output, ciphertext)
    return BackupResult(output, manifest, len(ciphertext), time.monotonic() - started, dump.seconds, dump.sql)


def ostops_records(workspace: Workspace) -> dict[str, bytes]:
    """instance.json, credentials.json, runs/*.json and the caught mail/*.eml, as archive parts."""
    parts = {archive.OSTOPS + "instance.json": _read(workspace.instance_file)}
    if workspace.credentials_file.exists():
        parts[archive.OSTOPS + "credentials.json"] = _read(workspace.credentials_file)
    for sub, pattern in (("runs", "*.json"), ("mail", "*.eml")):
        for file in sorted((workspace.folder / sub).glob(pattern)):
            parts[f"{archive.OSTOPS}{sub}/{file.name}"] = _read(file)
    return parts


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BackupError(f"{path}: cannot read it ({exc.strerror}); nothing was written") from exc


def _osticket_facts(instance: Instance) -> tuple[str, list[Path]]:
    """The schema signature, and the folders of the filesystem storage plugin when files are kept outside the
    database (``file.bk`` other than 'D', the database backend: include/class.file.php)."""
    conn = db.connect(instance)
    t = Tables(instance.db.table_prefix)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT value FROM {t.config} WHERE namespace = %s AND `key` = %s",
                        (CONFIG_CORE, SCHEMA_SIGNATURE_KEY))
            row = cur.fetchone()
            cur.execute(f"SELECT COUNT(*) AS n FROM {t.file} WHERE bk <> 'D'")
            outside = int(cur.fetchone()["n"])
            folders: list[Path] = []
            if outside:
                cur.execute(f"SELECT DISTINCT value FROM {t.config} WHERE `key` = %s", (UPLOAD_PATH_KEY,))
                folders = [Path(str(r["value"])) for r in cur.fetchall() if r["value"]]
    finally:
        conn.close()
    if row is None:
        raise BackupError("osTicket's database holds no schema signature (config core.schema_signature): is it "
                          "an installed osTicket?")
    missing = [f for f in folders if not f.is_dir()]
    if outside and (not folders or missing):
        raise BackupError(f"{outside} attachment(s) are kept outside the database, but their folder "
                          f"{', '.join(map(str, missing)) or '(no uploadpath configured)'} cannot be read here; "
                          "nothing was written")
    return str(row["value"]), folders


def _ostops_version() -> str:
    try:
        return metadata.version("ostops")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class VerifyResult:
    opened: archive.Opened
    checks: list[tuple[str, bool, str]]  # name, ok, detail


def verify_backup(path: Path, keys: Keys) -> VerifyResult:
    """Decrypt and check every part against the manifest (`archive.open_backup` raises on any difference)."""
    opened = archive.open_backup(path, keys)
    m = opened.manifest
    checks = [
        ("decrypts", True, "age, " + ("recipients' identity" if keys.identities else "passphrase")),
        ("manifest", True, f"osTicket {m.osticket_version}, schema {m.schema_signature[:8]}, created {m.created}"),
        ("parts", True, f"{len(m.parts)} part(s), each matching its SHA-256"),
        ("database", True, f"{len(m.rows)} table(s), {sum(m.rows.values())} row(s), dumped by {m.dump_tool}"),
        ("SECRET_SALT", True, "in ost-config.php"),
        ("runs", True, f"{len(m.runs)} recorded run(s)"),
    ]
    for run_id in m.runs:
        if f"{archive.OSTOPS}runs/{run_id}.json" not in opened.parts:
            raise BackupRejected(f"{path}: run {run_id} is listed but its record is not in the archive")
    return VerifyResult(opened, checks)


def passphrase_from_environment() -> str | None:
    value = os.environ.get(archive.PASSPHRASE_ENV)
    return value if value else None
