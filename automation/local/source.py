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

from automation.errors import EnvironmentFailure, SourceError
from automation.manifest import Download, PublisherError, github_release_digest, load_manifest
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


def is_source_of(path: Path, webroot: str, origin: str | None = None) -> bool:
    """Whether ``--source path`` names the source an instance was built from (its web root, as recorded in
    ``local.source``; or the path recorded in ``local.source_origin``): a release zip, its upload/ folder or a
    source tree, unpacked or not. Nothing is unpacked or downloaded to tell."""
    path = path.expanduser()
    recorded = origin.split(" ", 1)[1] if origin and " " in origin else None
    if recorded is not None and Path(recorded).expanduser().resolve() == path.resolve():
        return True
    if path.is_dir():
        candidate = webroot_of(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        candidate = webroot_of(cache_root() / f"zip-{_sha256(path)[:16]}")
    else:
        candidate = None
    return candidate is not None and candidate.resolve() == Path(webroot).expanduser().resolve()


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


class DigestMismatchError(EnvironmentFailure):
    """The downloaded release differs from the digest its publisher lists (exit 4)."""


def _where_else(entry: Download) -> str:
    return (f"pass --source PATH (a release zip, its upload/ folder or a source tree), set $OSTICKET_SOURCE, "
            f"or put osTicket {entry.version} in {cache_root() / entry.version}")


def _expected_sha256(entry: Download, http: requests.Session) -> str:
    """GitHub's published digest for the release asset (and the manifest's pin, when there is one, must agree)."""
    try:
        digest = github_release_digest(entry, timeout=DOWNLOAD_TIMEOUT[0], session=http)
    except PublisherError as exc:
        cause = exc.__cause__
        if isinstance(cause, requests.RequestException):
            raise SourceError(f"cannot reach {entry.release_api_url()} ({type(cause).__name__}): offline? "
                              f"{_where_else(entry)}") from exc
        raise SourceError(f"refusing to download osTicket {entry.version} unverified: {exc}") from exc
    if entry.hash_known and entry.sha256 != digest:
        raise DigestMismatchError(f"{entry.file}: GitHub's digest {digest} differs from the manifest's pinned "
                                  f"{entry.sha256}; nothing was downloaded")
    return digest


def download(entry: Download, session: requests.Session | None = None) -> Path:
    """Fetch the pinned release into the cache, refusing it unless it matches GitHub's published digest."""
    target = cache_root() / entry.version
    http = session or requests.Session()
    if entry.verify == "github-release-digest":
        expected = _expected_sha256(entry, http)
    elif entry.hash_known:
        expected = entry.sha256
    else:
        raise SourceError(f"the download manifest has no way to verify osTicket {entry.version}; "
                          f"{_where_else(entry)}")
    url = entry.fetch_url(entry.url)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / entry.file
        digest = hashlib.sha256()
        try:
            with http.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
                response.raise_for_status()
                with archive.open("wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        except requests.RequestException as exc:
            raise SourceError(f"cannot download {url} ({exc.__class__.__name__}); {_where_else(entry)}") from exc
        if digest.hexdigest() != expected:
            raise DigestMismatchError(f"{url}: SHA-256 {digest.hexdigest()} does not match the published "
                                      f"{expected}; the file was not used")
        target.parent.mkdir(parents=True, exist_ok=True)
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
    raise SourceError(f"no osTicket source: {_where_else(pinned)}")


_PHP_RANGE = re.compile(r"PHP version (\d+)\.(\d+)\s*-\s*(\d+)\.(\d+)")


def php_range(webroot: Path) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The PHP releases a source supports, as its own README.md states them ("PHP version 8.1 - 8.2" in
    1.18.1, "8.0 - 8.2" in 1.17.5); None when it states no range."""
    try:
        text = (webroot / "README.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _PHP_RANGE.search(text)
    if not match:
        return None
    a, b, c, d = (int(g) for g in match.groups())
    return (a, b), (c, d)

