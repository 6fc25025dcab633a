"""The project's one list of pinned downloads (``infra/bootstrap/downloads.json``)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from automation.errors import ConfigError, OsTicketError

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "infra" / "bootstrap" / "downloads.json"
UNKNOWN = "unknown"


class Download(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    url: str
    file: str = Field(min_length=1)
    sha256: str

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return url

    @field_validator("sha256")
    @classmethod
    def _hash_or_unknown(cls, value: str) -> str:
        if value != UNKNOWN and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError(f"must be 64 lower-case hex digits or {UNKNOWN!r}")
        return value

    @property
    def hash_known(self) -> bool:
        return self.sha256 != UNKNOWN


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    comment: str = Field(default="", alias="$comment")
    downloads: dict[str, Download]

    def unknown_hashes(self) -> list[str]:
        """Names of the entries whose SHA-256 is not pinned yet (the bootstrap and the policy warn about them)."""
        return [name for name, entry in self.downloads.items() if not entry.hash_known]


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: download manifest not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


class DownloadError(OsTicketError):
    """A manifest URL could not be downloaded (network, TLS, HTTP status)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot download {url}: {reason}")


CHUNK_SIZE = 1 << 20


def compute_sha256(url: str, timeout: float = 60.0, session: requests.Session | None = None) -> str:
    """Stream ``url`` and return its SHA-256 (64 lower-case hex digits); nothing is kept on disk.

    ``timeout`` bounds the connection and each read, not the whole transfer.
    """
    http = session or requests.Session()
    digest = hashlib.sha256()
    try:
        with http.get(url, stream=True, timeout=timeout, allow_redirects=True) as response:
            if response.status_code != 200:
                raise DownloadError(url, f"HTTP {response.status_code}")
            for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
                digest.update(chunk)
    except requests.RequestException as exc:
        raise DownloadError(url, f"{type(exc).__name__}: {exc}") from exc
    return digest.hexdigest()


def write_hashes(hashes: dict[str, str], path: Path = MANIFEST_PATH) -> Manifest:
    """Set ``sha256`` of the named entries and rewrite the manifest atomically (same key order, 2-space JSON).

    Every name must exist and every hash be valid; otherwise nothing is written.
    """
    current = load_manifest(path)
    unknown = sorted(set(hashes) - set(current.downloads))
    if unknown:
        raise ConfigError(f"{path}: no download named {', '.join(unknown)}")
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for name, sha in hashes.items():
        raw["downloads"][name]["sha256"] = sha
    try:
        updated = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return updated
