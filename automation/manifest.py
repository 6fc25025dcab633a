"""The project's one list of pinned downloads (``infra/bootstrap/downloads.json``)."""

from __future__ import annotations

import hashlib
import json
import json.decoder
import json.scanner
import os
import re
from pathlib import Path
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automation.errors import ConfigError, EnvironmentFailure
from automation.files import write_atomic
from automation.paths import MANIFEST_PATH

UNKNOWN = "unknown"


VerifyMethod = Literal["sha256", "php-sha256-list", "mariadb-sha256sums", "authenticode", "github-release-digest"]
# What each method checks, as `ostops manifest check` shows it.
METHOD_NOTES: dict[str, str] = {
    "sha256": "the pinned sha256",
    "php-sha256-list": "sha256sum.txt published beside the zip by PHP",
    "mariadb-sha256sums": "sha256sums.txt of MariaDB's archive",
    "authenticode": "Authenticode signature (checked on Windows)",
    "github-release-digest": "the asset digest in GitHub's releases API",
}
CHECKSUM_LISTS = {"php-sha256-list": "sha256sum.txt", "mariadb-sha256sums": "sha256sums.txt"}
GITHUB_ASSET = re.compile(r"^https://github\.com/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$")
# Overridable so tests can stand a local server in for GitHub.
GITHUB_API_ENV = "OSTOPS_GITHUB_API"
GITHUB_DOWNLOAD_ENV = "OSTOPS_GITHUB_DOWNLOAD"


class Download(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: str = Field(min_length=1)
    url: str
    mirrors: list[str] = Field(default_factory=list)
    file: str = Field(min_length=1)
    verify: VerifyMethod  # required: the bootstrap refuses an entry without it
    signer: str | None = None
    sha256: str
    # Where the pinned sha256 comes from (a public record), or why the entry is not pinned; optional, so a
    # manifest without it still loads.
    sha256_source: str = Field(default="", alias="sha256Source")

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return url

    @field_validator("mirrors")
    @classmethod
    def _https_mirrors(cls, mirrors: list[str]) -> list[str]:
        for url in mirrors:
            if not url.startswith("https://"):
                raise ValueError(f"{url!r} must be an https:// URL")
        return mirrors

    @field_validator("sha256")
    @classmethod
    def _hash_or_unknown(cls, value: str) -> str:
        if value != UNKNOWN and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError(f"must be 64 lower-case hex digits or {UNKNOWN!r}")
        return value

    @model_validator(mode="after")
    def _verifiable(self) -> Download:
        if self.verify == "sha256" and not self.hash_known:
            raise ValueError("verify is 'sha256' but sha256 is 'unknown': pin it (`ostops manifest hash --write`) "
                             "or name a publisher method")
        if self.verify == "authenticode" and not self.signer:
            raise ValueError("verify 'authenticode' needs signer (e.g. \"Microsoft Corporation\")")
        if self.verify == "github-release-digest" and not GITHUB_ASSET.match(self.url):
            raise ValueError("verify 'github-release-digest' needs a https://github.com/OWNER/REPO/releases/"
                             "download/TAG/FILE url")
        return self

    @property
    def hash_known(self) -> bool:
        return self.sha256 != UNKNOWN

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.mirrors]

    def checksum_list_url(self, url: str) -> str | None:
        """The publisher's checksum list in the folder ``url`` is in (PHP's and MariaDB's methods)."""
        name = CHECKSUM_LISTS.get(self.verify)
        return f"{url.rsplit('/', 1)[0]}/{name}" if name else None

    def release_api_url(self) -> str | None:
        match = GITHUB_ASSET.match(self.url)
        if self.verify != "github-release-digest" or not match:
            return None
        owner, repo, tag, _ = match.groups()
        base = os.environ.get(GITHUB_API_ENV, "https://api.github.com").rstrip("/")
        return f"{base}/repos/{owner}/{repo}/releases/tags/{tag}"

    def fetch_url(self, url: str) -> str:
        """``url`` with github.com replaced by ``$OSTOPS_GITHUB_DOWNLOAD`` when that is set (tests)."""
        base = os.environ.get(GITHUB_DOWNLOAD_ENV)
        if base and url.startswith("https://github.com/"):
            return base.rstrip("/") + url.removeprefix("https://github.com")
        return url


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    comment: str = Field(default="", alias="$comment")
    downloads: dict[str, Download]

    def unknown_hashes(self) -> list[str]:
        """Names of the entries whose SHA-256 is not pinned (each is verified by its method instead)."""
        return [name for name, entry in self.downloads.items() if not entry.hash_known]


class _Object(dict[str, Any]):
    """A JSON object that remembers the line of itself and of each key, and the keys it saw twice."""

    def __init__(self, pairs: list[tuple[str, Any]], line: int, lines: list[int]) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, int]] = []
        for (key, value), key_line in zip(pairs, lines, strict=True):
            if key in self:
                self.duplicates.append((key, key_line))
            else:
                self.key_lines[key] = key_line
            self[key] = value


# Not in the type stubs; the pure-Python scanner is the one that calls a replaced parse_object.
_JSON_OBJECT: Any = json.decoder.JSONObject  # type: ignore[attr-defined]
_PY_SCANNER: Any = json.scanner.py_make_scanner  # type: ignore[attr-defined]


class _LocatingDecoder(json.JSONDecoder):
    """``json`` with a line for every object and key (the pure-Python scanner, so parse_object can be wrapped)."""

    def __init__(self) -> None:
        super().__init__()
        self.parse_object = self._parse_object
        self.scan_once = _PY_SCANNER(self)

    @staticmethod
    def _parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any, object_hook: Any,
                      object_pairs_hook: Any, memo: Any = None) -> tuple[Any, int]:
        text, start = s_and_end
        value_starts: list[int] = []

        def scan(string: str, index: int) -> Any:
            value_starts.append(index)
            return scan_once(string, index)

        def line(index: int) -> int:
            return text.count("\n", 0, index) + 1

        def build(pairs: list[tuple[str, Any]]) -> _Object:
            return _Object(pairs, line(start - 1), [line(i) for i in value_starts])

        return _JSON_OBJECT(s_and_end, strict, scan, object_hook, build, memo)


def _read(path: Path) -> Any:
    """The manifest's JSON with lines (``_Object``); ConfigError for an unreadable, non-UTF-8 or invalid file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: download manifest not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the download manifest: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    try:
        return _LocatingDecoder().decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid JSON: nested too deeply") from None


def _where(path: Path, data: Any, loc: tuple[str | int, ...]) -> str:
    """``file:line a.b.c`` for a location in the document: the line of the deepest key that exists."""
    line = data.line if isinstance(data, _Object) else 1
    node = data
    for part in loc:
        if not isinstance(node, _Object):
            break
        if part not in node.key_lines:
            line = node.line
            break
        line = node.key_lines[str(part)]
        node = node[str(part)]
    return f"{path}:{line} {'.'.join(str(p) for p in loc) or '(top)'}"


def _duplicates(path: Path, node: Any, loc: tuple[str, ...] = ()) -> list[str]:
    problems: list[str] = []
    if isinstance(node, _Object):
        for key, line in node.duplicates:
            problems.append(f"{path}:{line} {'.'.join((*loc, key))}: duplicate key {key!r} (the last one would "
                            "silently win); keep one")
        for key, value in node.items():
            problems.extend(_duplicates(path, value, (*loc, key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            problems.extend(_duplicates(path, item, (*loc, str(index))))
    return problems


def _validation_problems(path: Path, data: Any, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(f"{_where(path, data, tuple(error['loc']))}: {message}")
    return problems


def _validate(path: Path, data: Any) -> Manifest:
    """Every problem at once: duplicate keys first, then the schema; one ConfigError listing them all."""
    problems = _duplicates(path, data)
    manifest: Manifest | None = None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems.extend(_validation_problems(path, data, exc))
    if problems or manifest is None:
        if len(problems) == 1:
            raise ConfigError(problems[0])
        listed = "".join(f"\n  {problem}" for problem in problems)
        raise ConfigError(f"{path}: {len(problems)} problems in the download manifest:{listed}")
    return manifest


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    return _validate(path, _read(path))


class DownloadError(EnvironmentFailure):
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


def write_hashes(hashes: dict[str, str], path: Path = MANIFEST_PATH, sources: dict[str, str] | None = None) -> Manifest:
    """Set ``sha256`` (and, given ``sources``, ``sha256Source``) of the named entries and rewrite the manifest
    atomically (same key order, 2-space JSON).

    Every name must exist and every hash be valid; otherwise nothing is written.
    """
    current = load_manifest(path)
    unknown = sorted(set(hashes) - set(current.downloads))
    if unknown:
        raise ConfigError(f"{path}: no download named {', '.join(unknown)}")
    raw: dict[str, Any] = _read(path)
    for name, sha in hashes.items():
        raw["downloads"][name]["sha256"] = sha
        if sources and name in sources:
            raw["downloads"][name]["sha256Source"] = sources[name]
    updated = _validate(path, raw)
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text, mode=0o644)  # a file of the repository, readable by all
    return updated


class PublisherError(EnvironmentFailure):
    """The publisher's checksum source could not be read, or does not list the file."""


def parse_checksum_list(text: str, file: str) -> str | None:
    """The SHA-256 for ``file`` in a ``sha256sum``-style list (``HASH *FILE`` or ``HASH  FILE``)."""
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[1].lstrip("*").strip() == file and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            return parts[0].lower()
    return None


def _get(http: requests.Session, url: str, timeout: float, what: str, **kwargs: Any) -> requests.Response:
    try:
        response = http.get(url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise PublisherError(f"cannot read {what} {url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise PublisherError(f"cannot read {what} {url}: HTTP {response.status_code}")
    return response


def github_release_digest(entry: Download, timeout: float = 30.0, session: requests.Session | None = None) -> str:
    """The ``sha256:`` digest GitHub's releases API lists for the entry's asset (64 hex digits)."""
    api = entry.release_api_url()
    if api is None:
        raise PublisherError(f"{entry.url}: not a GitHub release asset")
    http = session or requests.Session()
    response = _get(http, api, timeout, "the GitHub release", headers={"Accept": "application/vnd.github+json"})
    try:
        assets = response.json().get("assets", [])
    except (ValueError, AttributeError) as exc:
        raise PublisherError(f"{api}: not a GitHub release (no JSON object)") from exc
    for asset in assets if isinstance(assets, list) else []:
        if isinstance(asset, dict) and asset.get("name") == entry.file:
            digest = asset.get("digest") or ""
            if isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                return digest.removeprefix("sha256:")
            raise PublisherError(f"{api}: asset {entry.file} has no sha256 digest (GitHub lists digests for assets "
                                 "uploaded since June 2025); pin sha256 in the manifest by hand from a source you "
                                 "trust, or pass --source")
    raise PublisherError(f"{api}: the release has no asset named {entry.file}")


def publisher_sha256(entry: Download, timeout: float = 30.0, session: requests.Session | None = None) -> str | None:
    """The SHA-256 the publisher states for ``entry``; None for methods without one (sha256, authenticode)."""
    if entry.verify == "github-release-digest":
        return github_release_digest(entry, timeout, session)
    if entry.verify not in CHECKSUM_LISTS:
        return None
    http = session or requests.Session()
    problems = []
    for url in entry.urls:
        listing = entry.checksum_list_url(url) or ""
        try:
            found = parse_checksum_list(_get(http, listing, timeout, "the checksum list").text, entry.file)
        except PublisherError as exc:
            problems.append(str(exc))
            continue
        if found:
            return found
        problems.append(f"{listing} does not list {entry.file}")
    raise PublisherError("; ".join(problems))


def probe(url: str, timeout: float = 15.0, session: requests.Session | None = None) -> str | None:
    """None when ``url`` answers 2xx/3xx to HEAD (or, where HEAD is refused, to GET); else why not."""
    http = session or requests.Session()
    try:
        response = http.head(url, timeout=timeout, allow_redirects=True)
        if response.status_code in (403, 405, 501):
            with http.get(url, timeout=timeout, stream=True, allow_redirects=True) as streamed:
                response = streamed
        if response.status_code >= 400:
            return f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        return type(exc).__name__
    return None
