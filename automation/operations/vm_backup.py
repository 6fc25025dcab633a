"""The Azure VM's nightly backup (infra/bootstrap/modules/86-backup.ps1, ``Invoke-OstopsBackup``): a ZIP, not an
age archive, made by ``System.IO.Compression.ZipFile.CreateFromDirectory`` from one folder holding::

    osticket.sql      mariadb-dump --single-transaction --routines --triggers --hex-blob
                      --default-character-set=utf8mb4 of osTicket's database
    ost-config.php    the VM's whole config file (SECRET_SALT, TABLE_PREFIX, ...)
    manifest.json     ConvertTo-Json of {createdUtc, reason, osTicketVersion, schemaSignature,
                      rows: {table: count}, sha256: {"osticket.sql": hex, "ost-config.php": hex}}

Recognised by its content (a zip holding such a manifest), not by its name. Every part is checked against the
manifest's SHA-256 before anything is read from it, as `archive.open_backup` does for age archives.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from automation.errors import BackupRejected, ConfigError
from automation.operations.archive import secret_salt_present, sha256

MANIFEST = "manifest.json"
DATABASE = "osticket.sql"
CONFIG = "ost-config.php"
PARTS = (DATABASE, CONFIG)  # what the manifest's sha256 names (86-backup.ps1: foreach ($part in @(...)))
ZIP_MAGIC = b"PK\x03\x04"  # a zip's first local file header (APPNOTE.TXT 4.3.7: local file header signature)


class VmManifest(BaseModel):
    """manifest.json of a VM backup, keys as 86-backup.ps1 writes them (tests/unit/test_vm_backup.py parses the
    script so the two cannot drift)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    created_utc: str = Field(alias="createdUtc")  # [DateTime]::UtcNow.ToString('o')
    reason: str  # 'nightly', or what the upgrade passed
    osticket_version: str = Field(alias="osTicketVersion")
    schema_signature: str = Field(alias="schemaSignature")
    rows: dict[str, int]  # table -> COUNT(*) in one consistent snapshot (Get-TableRowCounts)
    sha256: dict[str, str]  # part name -> lowercase hex SHA-256


@dataclass
class VmOpened:
    """A VM backup read and checked: its manifest and both parts, each matching its SHA-256."""

    path: Path
    manifest: VmManifest
    sql: bytes
    config_php: bytes


def is_vm_backup(path: Path) -> bool:
    """Whether ``path`` is a zip (then only a VM backup is accepted from it; age archives start otherwise)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError:
        return False


def open_vm_backup(path: Path) -> VmOpened:
    """Read and check a VM backup; raises `BackupRejected` (exit 1) naming each part that is wrong, before
    anything is restored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such backup file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from exc
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            parts = {info.filename: zipped.read(info) for info in zipped.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError) as exc:
        raise BackupRejected(f"{path}: not a readable zip ({exc}); nothing was restored") from exc
    raw = parts.pop(MANIFEST, None)
    if raw is None:
        raise BackupRejected(f"{path}: a zip without {MANIFEST}; not an osTicket VM backup, nothing was restored")
    try:
        manifest = VmManifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BackupRejected(f"{path}: {MANIFEST}: {'.'.join(map(str, first['loc'])) or 'the whole file'}: "
                             f"{first['msg']}; nothing was restored") from exc
    problems = [f"{name}: in the zip but not in the manifest" for name in sorted(set(parts) - set(manifest.sha256))]
    problems += [f"{name}: the manifest names no SHA-256 for it" for name in PARTS if name not in manifest.sha256]
    for name, wanted in sorted(manifest.sha256.items()):
        found = parts.get(name)
        if found is None:
            problems.append(f"{name}: in the manifest but not in the zip")
        elif sha256(found) != wanted.lower():
            problems.append(f"{name}: SHA-256 {sha256(found)} ({len(found)} bytes), the manifest says {wanted}")
    if CONFIG in parts and not secret_salt_present(parts[CONFIG]):
        problems.append(f"{CONFIG}: no SECRET_SALT in it; osTicket's stored mail passwords and links need it")
    if problems:
        raise BackupRejected(f"{path}: the backup does not match its manifest; nothing was restored", problems)
    return VmOpened(path, manifest, parts[DATABASE], parts[CONFIG])


def verify_checks(opened: VmOpened) -> list[tuple[str, bool, str]]:
    """What `ostops backup verify` reports for a checked VM backup (it holds no ostops run records)."""
    m = opened.manifest
    return [
        ("format", True, f"Azure VM backup zip ({m.reason}), not encrypted"),
        ("manifest", True, f"osTicket {m.osticket_version}, schema {m.schema_signature[:8]}, created {m.created_utc}"),
        ("parts", True, f"{len(m.sha256)} part(s), each matching its SHA-256"),
        ("database", True, f"{len(m.rows)} table(s), {sum(m.rows.values())} row(s) counted on the VM"),
        ("SECRET_SALT", True, f"in {CONFIG}"),
        ("runs", True, "no recorded runs in this backup"),
    ]
