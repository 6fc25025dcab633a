"""The backup archive: a tar of named parts and their manifest, encrypted with age (pyrage) to a passphrase or
to age recipients, written 0600. Read back whole, decrypted and every part checked against the manifest's
SHA-256 before anything is restored from it.

Layout inside the tar::

    manifest.json                 osTicket version, schema signature, rows per table, SHA-256 of every part
    database.sql                  mariadb-dump --single-transaction of osTicket's database
    osticket/ost-config.php       the whole config file (SECRET_SALT, TABLE_PREFIX, ...)
    osticket/attachments/...      files kept outside the database (the filesystem storage plugin), if any
    ostops/instance.json, ostops/credentials.json, ostops/runs/*.json, ostops/mail/*.eml
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from automation.errors import BackupRejected, ConfigError

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "database.sql"
CONFIG = "osticket/ost-config.php"
ATTACHMENTS = "osticket/attachments/"
OSTOPS = "ostops/"
PASSPHRASE_ENV = "OSTOPS_BACKUP_PASSPHRASE"
AGE_HEADER = b"age-encryption.org/v1\n"  # the first line of every binary age file (age-encryption.org/v1 spec)
_SECRET_SALT = re.compile(r"""define\(\s*['"]SECRET_SALT['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str
    size: int


class Manifest(BaseModel):
    """What a backup holds; its own file in the archive, checked before anything else is read."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    created: str  # UTC, ISO 8601
    ostops_version: str
    osticket_version: str
    schema_signature: str
    table_prefix: str
    database: str
    dump_tool: str
    instance_kind: str
    instance_url: str
    rows: dict[str, int]  # table -> rows in the dump
    parts: dict[str, Part]  # path in the archive -> its SHA-256 and size
    runs: list[str]  # the run ids recorded when the backup was made (their records are parts)
    attachments: str  # "database" or "filesystem: <folder>"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def secret_salt_present(config_php: bytes) -> bool:
    match = _SECRET_SALT.search(config_php.decode("utf-8", "replace"))
    return bool(match and match.group(1).strip())


@dataclass
class Keys:
    """How to encrypt (a passphrase, or age public keys) or decrypt (a passphrase, or age identities)."""

    passphrase: str | None = None
    recipients: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)

    def encrypt(self, data: bytes) -> bytes:
        import pyrage

        if self.recipients:
            try:
                keys = [pyrage.x25519.Recipient.from_str(r) for r in self.recipients]
            except pyrage.RecipientError as exc:
                raise ConfigError(f"--recipient: not an age public key (age1…): {exc}") from exc
            return bytes(pyrage.encrypt(data, keys))
        if not self.passphrase:
            raise ConfigError(f"no passphrase: set {PASSPHRASE_ENV}, answer the prompt, or give --recipient")
        return bytes(pyrage.passphrase.encrypt(data, self.passphrase))

    def decrypt(self, data: bytes, where: Path) -> bytes:
        import pyrage

        if not data.startswith(AGE_HEADER):
            raise BackupRejected(f"{where}: not an ostops backup (no age header); nothing was restored")
        try:
            if self.identities:
                ids = [pyrage.x25519.Identity.from_str(i) for i in self.identities]
                return bytes(pyrage.decrypt(data, ids))
            if not self.passphrase:
                raise ConfigError(f"{where}: no passphrase: set {PASSPHRASE_ENV} or answer the prompt "
                                  "(or give --identity for a backup made with --recipient)")
            return bytes(pyrage.passphrase.decrypt(data, self.passphrase))
        except (pyrage.DecryptError, pyrage.IdentityError) as exc:
            raise BackupRejected(f"{where}: cannot decrypt: wrong passphrase or identity, or the file was altered "
                              f"({exc}); nothing was restored") from exc

    def public(self) -> Keys:
        """Keys that encrypt to whoever these decrypt for (a pre-restore backup made with the restore's keys)."""
        import pyrage

        if self.identities:
            return Keys(recipients=[str(pyrage.x25519.Identity.from_str(i).to_public()) for i in self.identities])
        return Keys(passphrase=self.passphrase)


def pack(manifest: Manifest, parts: dict[str, bytes]) -> bytes:
    """The tar of the manifest and the parts (not compressed: SQL compresses well, but gzip would cost more
    time than the dump itself; see bench/backup.py)."""
    buffer = io.BytesIO()
    now = dt.datetime.now(dt.UTC).timestamp()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(MANIFEST, manifest.model_dump_json(indent=2).encode()), *sorted(parts.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(now), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write(path: Path, ciphertext: bytes) -> None:
    """Write the encrypted archive with mode 0600 from the first byte, whole or not at all."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(ciphertext)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass
class Opened:
    """A backup decrypted and checked: its manifest and every part, each matching its SHA-256."""

    path: Path
    manifest: Manifest
    parts: dict[str, bytes]

    def ostops_files(self, folder: str) -> dict[str, bytes]:
        """The parts under ``ostops/<folder>/`` by file name (e.g. ``runs``)."""
        prefix = f"{OSTOPS}{folder}/"
        return {name[len(prefix):]: data for name, data in self.parts.items() if name.startswith(prefix)}


def open_backup(path: Path, keys: Keys) -> Opened:
    """Decrypt, unpack and check a backup; raises `BackupRejected` (exit 1) naming what is wrong, before anything
    is restored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such backup file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from exc
    plain = keys.decrypt(data, path)
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            parts = {}
            for name, member in members.items():
                handle = tar.extractfile(member)
                assert handle is not None
                parts[name] = handle.read()
    except tarfile.TarError as exc:
        raise BackupRejected(f"{path}: decrypted, but not an ostops backup archive ({exc})") from exc
    raw = parts.pop(MANIFEST, None)
    if raw is None:
        raise BackupRejected(f"{path}: no {MANIFEST} in the archive; not an ostops backup")
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BackupRejected(f"{path}: {MANIFEST}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    problems = [f"{name}: in the archive but not in the manifest" for name in sorted(set(parts) - set(manifest.parts))]
    for name, part in sorted(manifest.parts.items()):
        found = parts.get(name)
        if found is None:
            problems.append(f"{name}: in the manifest but not in the archive")
        elif sha256(found) != part.sha256 or len(found) != part.size:
            problems.append(f"{name}: SHA-256 {sha256(found)} ({len(found)} bytes), the manifest says "
                            f"{part.sha256} ({part.size} bytes)")
    if CONFIG in parts and not secret_salt_present(parts[CONFIG]):
        problems.append(f"{CONFIG}: no SECRET_SALT in it; osTicket's stored mail passwords and links need it")
    for required in (DATABASE, CONFIG):
        if required not in manifest.parts:
            problems.append(f"{required}: missing from the backup")
    if problems:
        raise BackupRejected(f"{path}: the backup does not match its manifest; nothing was restored", problems)
    return Opened(path, manifest, parts)
