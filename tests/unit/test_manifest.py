"""The download manifest: its entries, the loader's validation, hashing and the `ostops manifest` commands."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Self

import pytest
import requests
from click.testing import CliRunner

from automation.cli.manifest import manifest_group
from automation.errors import ConfigError
from automation.manifest import (
    MANIFEST_PATH,
    METHOD_NOTES,
    UNKNOWN,
    DownloadError,
    compute_sha256,
    load_manifest,
    write_hashes,
)

OSTICKET_FLOOR = (1, 18, 3)  # fixes CVE-2026-22200
REQUIRED = {"osticket", "php", "vcredist", "urlrewrite", "mariadb"}
GOOD_HASH = "a" * 64


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.lstrip("v").split("."))


# ---------------------------------------------------------------- the real manifest


def test_manifest_has_every_download_the_bootstrap_needs() -> None:
    manifest = load_manifest()
    assert set(manifest.downloads) >= REQUIRED
    assert "ostops manifest hash --write" in manifest.comment


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_entry_has_version_https_url_and_hash_or_explicit_unknown(name: str) -> None:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))["downloads"][name]
    assert set(raw) <= {"version", "url", "mirrors", "file", "verify", "signer", "sha256", "sha256Source"}
    # Issue 20: every pin cites its public record (winget-pkgs' InstallerSha256, the publisher's list, GitHub's
    # asset digest), and an entry left unpinned says why and how to pin it.
    source = raw.get("sha256Source", "")
    assert source.strip(), "sha256Source must cite where the pin comes from, or why there is none"
    if raw["sha256"] == UNKNOWN:
        assert source.startswith("not pinned:") and f"ostops manifest hash --write --only {name}" in source
    else:
        assert not source.startswith("not pinned")
    assert raw["verify"] in METHOD_NOTES, "every entry names how the bootstrap verifies it"
    assert raw["verify"] != "sha256" or raw["sha256"] != UNKNOWN, "verify 'sha256' needs a pin"
    assert raw["version"].strip()
    assert raw["url"].startswith("https://")
    assert raw["sha256"] == UNKNOWN or re.fullmatch(r"[0-9a-f]{64}", raw["sha256"])
    assert re.fullmatch(r"[A-Za-z0-9._-]+", raw["file"]), "file is a plain file name (no path)"


def test_osticket_is_at_or_above_the_security_floor() -> None:
    entry = load_manifest().downloads["osticket"]
    assert version_tuple(entry.version) >= OSTICKET_FLOOR
    assert entry.version == "1.18.3", "the contract pins osTicket at the floor itself"
    assert f"v{entry.version}" in entry.url
    assert entry.file in entry.url


def test_pinned_runtimes_are_the_ones_the_bootstrap_expects() -> None:
    d = load_manifest().downloads
    # osTicket 1.18.x supports PHP 8.2-8.4 (osTicket/osTicket#6788); PHP lives at downloads.php.net now
    # (php/php-src#21272), with archives/ as the fallback once a newer patch release moves it there.
    assert version_tuple(d["php"].version)[:2] == (8, 4)
    assert d["php"].url.startswith("https://downloads.php.net/~windows/releases/")
    assert d["php"].mirrors == [d["php"].url.replace("/releases/", "/releases/archives/")]
    assert re.search(r"php-8\.4\.\d+-nts-Win32-vs17-x64\.zip$", d["php"].url)
    assert d["php"].verify == "php-sha256-list" and d["mariadb"].verify == "mariadb-sha256sums"
    assert d["osticket"].verify == "github-release-digest"
    assert {d["vcredist"].signer, d["urlrewrite"].signer} == {"Microsoft Corporation"}
    assert d["php"].version in d["php"].url
    assert version_tuple(d["mariadb"].version)[:2] == (10, 11)
    assert d["mariadb"].url.startswith("https://archive.mariadb.org/")
    assert d["mariadb"].url.endswith(f"mariadb-{d['mariadb'].version}-winx64.msi")
    assert d["urlrewrite"].version.startswith("2.1")
    assert d["urlrewrite"].url.endswith("amd64_en-US.msi")
    assert "x64" in d["vcredist"].url
    for name in ("php", "mariadb", "osticket", "urlrewrite", "vcredist"):
        assert d[name].url.rsplit("/", 1)[1] == d[name].file


def test_unknown_hashes_are_reported_by_name() -> None:
    manifest = load_manifest()
    assert manifest.unknown_hashes() == [n for n, e in manifest.downloads.items() if e.sha256 == UNKNOWN]


# ---------------------------------------------------------------- the loader refuses broken copies


def write_manifest(tmp_path: Path, **overrides: dict[str, str]) -> Path:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    for name, fields in overrides.items():
        raw["downloads"][name].update(fields)
    path = tmp_path / "downloads.json"
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "http://windows.php.net/x.zip"}, "https"),
        ({"sha256": ""}, "hex"),
        ({"sha256": "ABC"}, "hex"),
        ({"sha256": "A" * 64}, "hex"),
        ({"version": ""}, "version"),
    ],
)
def test_loader_rejects_a_broken_entry(tmp_path: Path, fields: dict[str, str], message: str) -> None:
    path = write_manifest(tmp_path, php=fields)
    with pytest.raises(ConfigError, match=message):
        load_manifest(path)


def test_loader_rejects_an_entry_without_a_hash_field(tmp_path: Path) -> None:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    del raw["downloads"]["mariadb"]["sha256"]
    path = tmp_path / "downloads.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="sha256"):
        load_manifest(path)


def test_loader_rejects_an_entry_without_a_verify_method(tmp_path: Path) -> None:
    """bootstrap.ps1 refuses an entry whose verify is not one of its methods: no default here either."""
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert all("verify" in entry for entry in raw["downloads"].values())
    del raw["downloads"]["mariadb"]["verify"]
    path = tmp_path / "downloads.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mariadb.*verify|verify.*mariadb"):
        load_manifest(path)


# ---------------------------------------------------------------- hashing and writing


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.body = body

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> list[bytes]:
        return [self.body[i:i + 3] for i in range(0, len(self.body), 3)]


class FakeSession:
    def __init__(self, status: int = 200, body: bytes = b"", error: Exception | None = None) -> None:
        self.status, self.body, self.error = status, body, error
        self.calls: list[tuple[str, float]] = []

    def get(self, url: str, *, stream: bool, timeout: float, allow_redirects: bool) -> FakeResponse:
        assert stream, "downloads must stream"
        self.calls.append((url, timeout))
        if self.error:
            raise self.error
        return FakeResponse(self.status, self.body)


def test_compute_sha256_streams_and_hashes() -> None:
    session = FakeSession(body=b"osTicket release bytes")
    sha = compute_sha256("https://example.test/a.zip", timeout=7, session=session)  # type: ignore[arg-type]
    assert sha == hashlib.sha256(b"osTicket release bytes").hexdigest()
    assert session.calls == [("https://example.test/a.zip", 7)]


def test_compute_sha256_names_the_url_on_network_failure() -> None:
    session = FakeSession(error=requests.ConnectionError("no route to host"))
    with pytest.raises(DownloadError, match=r"https://example\.test/a\.zip.*no route to host") as info:
        compute_sha256("https://example.test/a.zip", session=session)  # type: ignore[arg-type]
    assert info.value.exit_code == 4


def test_compute_sha256_refuses_an_http_error() -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        compute_sha256("https://example.test/gone.zip", session=FakeSession(status=404))  # type: ignore[arg-type]


def test_write_hashes_is_atomic_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write_manifest(tmp_path)
    before = json.loads(path.read_text(encoding="utf-8"))
    updated = write_hashes({"php": GOOD_HASH}, path)
    after = json.loads(path.read_text(encoding="utf-8"))
    assert updated.downloads["php"].sha256 == GOOD_HASH
    assert after["downloads"]["php"]["sha256"] == GOOD_HASH
    before["downloads"]["php"]["sha256"] = GOOD_HASH
    assert after == before
    assert list(after["downloads"]) == list(before["downloads"])
    assert [p.name for p in tmp_path.iterdir()] == ["downloads.json"], "no temporary file left behind"


@pytest.mark.parametrize(("hashes", "message"), [({"php": "nope"}, "hex"), ({"nginx": GOOD_HASH}, "nginx")])
def test_write_hashes_writes_nothing_when_invalid(tmp_path: Path, hashes: dict[str, str], message: str) -> None:
    path = write_manifest(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=message):
        write_hashes(hashes, path)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- the CLI


def test_cli_check_shows_each_entrys_method(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, php={"sha256": GOOD_HASH})
    result = CliRunner().invoke(manifest_group, ["check", "--manifest", str(path)])
    assert result.exit_code == 0, result.output
    for name, entry in load_manifest(path).downloads.items():
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{name} "))
        assert f"verify={entry.verify}" in line
    assert f"sha256={GOOD_HASH}" in result.stdout
    assert "5 downloads, each verified before it runs" in result.stdout


@pytest.fixture
def no_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash by downloading (as verify 'sha256' entries are), without a publisher's list."""
    monkeypatch.setattr("automation.manifest.publisher_sha256", lambda entry, timeout: None)


@pytest.mark.usefixtures("no_publisher")
def test_cli_hash_without_write_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_manifest(tmp_path, php={"sha256": UNKNOWN})
    before = path.read_bytes()
    monkeypatch.setattr("automation.manifest.compute_sha256", lambda url, timeout: GOOD_HASH)
    result = CliRunner().invoke(manifest_group, ["hash", "--manifest", str(path), "--only", "php"])
    assert result.exit_code == 0, result.output
    assert f"php          {GOOD_HASH}  new" in result.stdout
    assert path.read_bytes() == before


@pytest.mark.usefixtures("no_publisher")
def test_cli_hash_write_pins_only_the_selected_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_manifest(tmp_path)
    seen: list[tuple[str, float]] = []

    def fake(url: str, timeout: float) -> str:
        seen.append((url, timeout))
        return GOOD_HASH

    monkeypatch.setattr("automation.manifest.compute_sha256", fake)
    result = CliRunner().invoke(
        manifest_group, ["hash", "--manifest", str(path), "--only", "mariadb", "--write", "--timeout", "5"]
    )
    assert result.exit_code == 0, result.output
    manifest = load_manifest(path)
    assert manifest.downloads["mariadb"].sha256 == GOOD_HASH
    assert manifest.downloads["osticket"].sha256 == UNKNOWN
    assert seen == [(manifest.downloads["mariadb"].url, 5.0)]


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from automation import cli

    monkeypatch.setattr(sys, "argv", ["ostops", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.usefixtures("no_publisher")
def test_cli_network_failure_is_one_clear_error_naming_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(tmp_path)
    before = path.read_bytes()

    def offline(url: str, timeout: float) -> str:
        raise DownloadError(url, "ConnectionError: name resolution failed")

    monkeypatch.setattr("automation.manifest.compute_sha256", offline)
    code, err = run_main(monkeypatch, capsys, "manifest", "hash", "--manifest", str(path), "--write")
    assert code == 4
    assert "cannot download https://github.com/osTicket/osTicket/releases/download/v1.18.3/" in err
    assert "Traceback" not in err
    assert path.read_bytes() == before


def test_cli_unknown_name_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(tmp_path)
    code, err = run_main(monkeypatch, capsys, "manifest", "hash", "--manifest", str(path), "--only", "nginx")
    assert code == 2
    assert "no download named nginx" in err


@pytest.mark.usefixtures("no_publisher")
def test_cli_refuses_to_repin_a_changed_hash_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(tmp_path, php={"sha256": GOOD_HASH})
    monkeypatch.setattr("automation.manifest.compute_sha256", lambda url, timeout: "b" * 64)
    code, err = run_main(monkeypatch, capsys, "manifest", "hash", "--manifest", str(path), "--only", "php", "--write")
    assert code == 4
    assert "differs from the pinned SHA-256" in err
    assert load_manifest(path).downloads["php"].sha256 == GOOD_HASH
    code, _ = run_main(monkeypatch, capsys, "manifest", "hash", "--manifest", str(path), "--only", "php",
                       "--write", "--replace")
    assert code == 0
    assert load_manifest(path).downloads["php"].sha256 == "b" * 64


def test_cli_hash_write_pins_a_signed_installer_and_records_the_source(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: the bootstrap refuses an unpinned entry, so an Authenticode entry can be pinned too (downloaded
    and hashed; the signature stays the second check on Windows); sha256Source says where the pin came from."""
    path = write_manifest(tmp_path, urlrewrite={"sha256": UNKNOWN})
    monkeypatch.setattr("automation.manifest.compute_sha256", lambda url, timeout: GOOD_HASH)
    result = CliRunner().invoke(manifest_group, ["hash", "--manifest", str(path), "--only", "urlrewrite", "--write"])
    assert result.exit_code == 0, result.output
    entry = load_manifest(path).downloads["urlrewrite"]
    assert entry.sha256 == GOOD_HASH and entry.verify == "authenticode"
    assert entry.sha256_source == f"ostops manifest hash: downloaded from {entry.url} and hashed"


def test_pins_cite_a_public_record_and_never_a_moving_url() -> None:
    """The vcredist pin is winget-pkgs' InstallerSha256 for a versioned URL: aka.ms/vs/17/release/vc_redist.x64.exe
    serves whatever build is newest, so no hash of it stays true. PHP is the current 8.4 patch release, pinned."""
    d = load_manifest().downloads
    assert "aka.ms" not in d["vcredist"].url and d["vcredist"].sha256 != UNKNOWN
    assert d["vcredist"].sha256.upper() in d["vcredist"].url, "the versioned URL carries the same SHA-256"
    assert "winget-pkgs" in d["vcredist"].sha256_source and "InstallerSha256" in d["vcredist"].sha256_source
    assert d["php"].version == "8.4.26" and d["php"].sha256 != UNKNOWN
