"""Find the osTicket code to serve: --source, $OSTICKET_SOURCE, the cache, or a verified download."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests

from automation.errors import SourceError
from automation.manifest import Download, load_manifest
from automation.versions import SECURITY_FLOOR, parse_version

DOWNLOAD_TIMEOUT = (10, 120)


@dataclass(frozen=True)
class OsTicketSource:
    """An osTicket web root (the folder holding ``index.php``, ``include/``, ``setup/``)."""

    webroot: Path
    version: str
    origin: str

    @property
    def below_security_floor(self) -> bool:
        parsed = parse_version(self.version)
        return parsed is not None and parsed < SECURITY_FLOOR


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ostops" / "osticket"


def _is_webroot(path: Path) -> bool:
    return (path / "include" / "ost-sampleconfig.php").is_file() and (path / "setup" / "setup.inc.php").is_file()


def _version_of(webroot: Path, hint: str = "") -> str:
    text = (webroot / "bootstrap.php").read_text(errors="replace") if (webroot / "bootstrap.php").exists() else ""
    match = re.search(r"define\('THIS_VERSION',\s*'v?([0-9][0-9.]*)'\)", text)
    if match:
        return match.group(1)
    hinted = re.search(r"(\d+\.\d+\.\d+)", hint)
    if hinted:
        return hinted.group(1)
    major = re.search(r"define\('MAJOR_VERSION',\s*'([0-9.]+)'\)", text)
    return f"{major.group(1)}.x" if major else "unknown"


def webroot_of(path: Path) -> Path | None:
    """The web root inside a release's ``upload/`` folder, a source tree, or ``path`` itself."""
    for candidate in (path, path / "upload"):
        if _is_webroot(candidate):
            return candidate
    return None


def from_path(path: Path, origin: str) -> OsTicketSource:
    path = path.expanduser()
    if not path.exists():
        raise SourceError(f"{origin} {path}: no such file or folder")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise SourceError(f"{origin} {path}: not a zip file; give an osTicket release zip, its upload/ folder, "
                              "or a source tree")
        return _from_zip(path, origin)
    webroot = webroot_of(path)
    if webroot is None:
        raise SourceError(f"{origin} {path}: not an osTicket source (no include/ost-sampleconfig.php and "
                          "setup/setup.inc.php there or under upload/)")
    return OsTicketSource(webroot, _version_of(webroot, str(path)), f"{origin} {path}")


def _from_zip(archive: Path, origin: str) -> OsTicketSource:
    target = cache_root() / f"zip-{_sha256(archive)[:16]}"
    if not target.exists():
        _unpack(archive, target)
    webroot = webroot_of(target)
    if webroot is None:
        shutil.rmtree(target, ignore_errors=True)
        raise SourceError(f"{origin} {archive}: the zip holds no osTicket upload/ folder")
    return OsTicketSource(webroot, _version_of(webroot, archive.name), f"{origin} {archive}")


def _unpack(archive: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent if target.parent.exists() else None))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_sources(pinned: str) -> list[Path]:
    """Cached versions, the pinned one first, then the newest."""
    root = cache_root()
    if not root.is_dir():
        return []
    versions = [p for p in root.iterdir() if p.is_dir() and parse_version(p.name) and not p.name.startswith("zip-")]
    versions.sort(key=lambda p: (p.name != pinned, tuple(-n for n in parse_version(p.name) or ())))
    return versions


def download(entry: Download, session: requests.Session | None = None) -> Path:
    """Fetch the pinned release into the cache, refusing it unless its SHA-256 matches the manifest."""
    target = cache_root() / entry.version
    if not entry.hash_known:
        raise SourceError(
            f"the download manifest has no SHA-256 for osTicket {entry.version}; run `ostops manifest hash "
            f"--write --only osticket` where the network is reachable, or pass --source / fill {target}"
        )
    http = session or requests.Session()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / entry.file
        digest = hashlib.sha256()
        try:
            with http.get(entry.url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
                response.raise_for_status()
                with archive.open("wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        except requests.RequestException as exc:
            raise SourceError(
                f"cannot download {entry.url} ({exc.__class__.__name__}); pass --source PATH "
                f"(a release zip, its upload/ folder or a source tree) or put osTicket in {target}"
            ) from exc
        if digest.hexdigest() != entry.sha256:
            raise SourceError(f"{entry.url}: SHA-256 {digest.hexdigest()} does not match the manifest's "
                              f"{entry.sha256}; the file was not used")
        _unpack(archive, target)
    return target


def resolve(explicit: Path | None = None, allow_download: bool = True) -> OsTicketSource:
    if explicit is not None:
        return from_path(explicit, "--source")
    env = os.environ.get("OSTICKET_SOURCE")
    if env:
        return from_path(Path(env), "OSTICKET_SOURCE")
    pinned = load_manifest().downloads["osticket"]
    for cached in cached_sources(pinned.version):
        webroot = webroot_of(cached)
        if webroot is not None:
            return OsTicketSource(webroot, _version_of(webroot, cached.name), f"cache {cached}")
    if allow_download:
        return from_path(download(pinned), "download")
    raise SourceError(f"no osTicket source: pass --source PATH or put osTicket {pinned.version} in "
                      f"{cache_root() / pinned.version}")
