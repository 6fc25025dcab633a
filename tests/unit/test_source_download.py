"""`ostops local up` with no source: the pinned release is downloaded and checked against the SHA-256 digest
GitHub's releases API publishes for the asset. A local HTTP server on 127.0.0.1 stands in for GitHub
(``$OSTOPS_GITHUB_API`` and ``$OSTOPS_GITHUB_DOWNLOAD``)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from automation.errors import SourceError
from automation.local import source
from automation.manifest import MANIFEST_PATH, load_manifest

ENTRY = load_manifest().downloads["osticket"]
TAG = f"v{ENTRY.version}"


def release_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("upload/include/ost-sampleconfig.php", "<?php")
        zf.writestr("upload/setup/setup.inc.php", "<?php")
        zf.writestr("upload/bootstrap.php", f"<?php define('THIS_VERSION', '{TAG}');")
    return buffer.getvalue()


class FakeGitHub:
    def __init__(self) -> None:
        self.asset = release_zip()
        self.digest: str | None = "sha256:" + hashlib.sha256(self.asset).hexdigest()
        self.requests: list[str] = []

    def release(self) -> dict[str, Any]:
        asset: dict[str, Any] = {"name": ENTRY.file, "size": len(self.asset)}
        if self.digest is not None:
            asset["digest"] = self.digest
        return {"tag_name": TAG, "assets": [asset]}


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append(self.path)
            if self.path == f"/api/repos/osTicket/osTicket/releases/tags/{TAG}":
                body, kind = json.dumps(fake.release()).encode(), "application/json"
            elif self.path == f"/dl/osTicket/osTicket/releases/download/{TAG}/{ENTRY.file}":
                body, kind = fake.asset, "application/zip"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("OSTOPS_GITHUB_API", f"{base}/api")
    monkeypatch.setenv("OSTOPS_GITHUB_DOWNLOAD", f"{base}/dl")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OSTICKET_SOURCE", raising=False)
    yield fake
    server.shutdown()
    server.server_close()


def test_matching_digest_downloads_and_caches(github: FakeGitHub) -> None:
    found = source.resolve(None)
    assert found.version == ENTRY.version
    assert found.webroot == source.cache_root() / ENTRY.version / "upload"
    assert len(github.requests) == 2
    again = source.resolve(None)  # from the cache now: no request
    assert again.webroot == found.webroot and len(github.requests) == 2


def test_mismatch_exits_4_showing_both_hashes(github: FakeGitHub) -> None:
    published = "0" * 64
    github.digest = f"sha256:{published}"
    with pytest.raises(source.DigestMismatchError) as excinfo:
        source.resolve(None)
    assert excinfo.value.exit_code == 4
    message = str(excinfo.value)
    assert published in message and hashlib.sha256(github.asset).hexdigest() in message
    assert not (source.cache_root() / ENTRY.version).exists()


def test_missing_digest_is_refused_with_what_to_do(github: FakeGitHub) -> None:
    github.digest = None
    with pytest.raises(SourceError, match=r"refusing .* unverified: .* has no sha256 digest.*--source"):
        source.resolve(None)
    assert all("/dl/" not in path for path in github.requests), "nothing unverified is downloaded"


def test_offline_names_flag_env_and_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OSTOPS_GITHUB_API", "http://127.0.0.1:9/api")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OSTICKET_SOURCE", raising=False)
    with pytest.raises(SourceError) as excinfo:
        source.resolve(None)
    message = str(excinfo.value)
    assert "offline?" in message and "--source" in message and "$OSTICKET_SOURCE" in message
    assert str(source.cache_root() / ENTRY.version) in message


def osticket_only_manifest(tmp_path: Path) -> Path:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    raw["downloads"] = {"osticket": raw["downloads"]["osticket"]}
    path = tmp_path / "downloads.json"
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return path


def test_manifest_check_online_and_hash_use_the_same_publisher(github: FakeGitHub, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from automation.cli.manifest import manifest_group

    path = osticket_only_manifest(tmp_path)
    result = CliRunner().invoke(manifest_group, ["check", "--manifest", str(path), "--online", "--timeout", "5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count(" ok ") == 2  # the asset and the release API
    result = CliRunner().invoke(manifest_group, ["hash", "--manifest", str(path), "--write"])
    assert result.exit_code == 0, result.output
    assert load_manifest(path).downloads["osticket"].sha256 == hashlib.sha256(github.asset).hexdigest()


def test_manifest_check_online_names_what_does_not_answer(github: FakeGitHub, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from automation.cli.manifest import manifest_group

    monkeypatch.setenv("OSTOPS_GITHUB_API", "http://127.0.0.1:9/api")
    path = osticket_only_manifest(tmp_path)
    result = CliRunner().invoke(manifest_group, ["check", "--manifest", str(path), "--online", "--timeout", "5"])
    assert result.exit_code == 1
    assert "1 URL(s) did not answer: osticket: http://127.0.0.1:9/api/repos/osTicket/osTicket" in str(result.exception)
