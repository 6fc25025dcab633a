import zipfile

import pytest

from automation.errors import SourceError
from automation.local import source
from automation.manifest import Download, Manifest


def fake_osticket(root, version="v1.18.2"):
    (root / "include").mkdir(parents=True)
    (root / "setup").mkdir()
    (root / "include" / "ost-sampleconfig.php").write_text("<?php")
    (root / "setup" / "setup.inc.php").write_text("<?php")
    (root / "bootstrap.php").write_text(f"<?php define('THIS_VERSION', '{version}');")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OSTICKET_SOURCE", raising=False)


def test_explicit_tree_and_upload_folder(tmp_path):
    tree = fake_osticket(tmp_path / "release" / "upload")
    found = source.from_path(tmp_path / "release", "--source")
    assert found.webroot == tree
    assert found.version == "1.18.2"
    assert found.below_security_floor


def test_release_zip_is_unpacked_into_cache(tmp_path):
    tree = fake_osticket(tmp_path / "build" / "upload", "v1.18.3")
    archive = tmp_path / "osTicket-v1.18.3.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in tree.parent.rglob("*"):
            zf.write(path, path.relative_to(tree.parent))
    found = source.from_path(archive, "--source")
    assert found.version == "1.18.3"
    assert not found.below_security_floor
    assert str(found.webroot).startswith(str(source.cache_root()))


def test_folder_that_is_not_osticket(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SourceError, match=r"--source .*nothing: not an osTicket source"):
        source.from_path(tmp_path / "nothing", "--source")


def test_env_then_cache_order(tmp_path, monkeypatch):
    cached = fake_osticket(source.cache_root() / "1.18.1", "1.18-git")
    found = source.resolve(None, allow_download=False)
    assert found.webroot == cached and found.version == "1.18.1"
    other = fake_osticket(tmp_path / "env-tree")
    monkeypatch.setenv("OSTICKET_SOURCE", str(other))
    assert source.resolve(None, allow_download=False).webroot == other


def test_no_source_and_no_pinned_hash_names_flag_and_cache(monkeypatch):
    # A release neither pinned nor published with a digest is never downloaded blindly (no network is touched).
    unpinned = Manifest.model_construct(downloads={"osticket": Download.model_construct(
        version="1.18.3", file="osTicket-v1.18.3.zip", url="https://example.invalid/osTicket.zip", mirrors=[],
        verify="sha256", signer=None, sha256="unknown")})
    monkeypatch.setattr(source, "load_manifest", lambda: unpinned)
    with pytest.raises(SourceError) as excinfo:
        source.resolve(None)
    message = str(excinfo.value)
    assert "--source" in message and str(source.cache_root()) in message
    assert "\n" not in message


def test_version_parsing():
    assert source.parse_version("v1.18.3") == (1, 18, 3)
    assert source.parse_version("1.18") == (1, 18, 0)
    assert source.parse_version("git") is None


def test_download_failure_names_flag_and_cache(monkeypatch):
    pinned = Download(version="1.18.3", file="osTicket-v1.18.3.zip", url="https://127.0.0.1:9/osTicket.zip",
                      verify="sha256", sha256="a" * 64)
    monkeypatch.setattr(source, "load_manifest", lambda: Manifest(downloads={"osticket": pinned}))
    with pytest.raises(SourceError) as excinfo:
        source.resolve(None)
    message = str(excinfo.value)
    assert message.startswith("cannot download https://127.0.0.1:9/osTicket.zip (ConnectionError)")
    assert "--source" in message and str(source.cache_root() / "1.18.3") in message
