"""Which PHP a source runs on: read from the release's own README, checked before `local up` touches anything;
and scripts/setup.sh refusing a distribution whose PHP osTicket 1.18 does not support."""

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from automation.errors import EnvironmentProblem, SourceError
from automation.local import manager, source, webserver

REPO = Path(__file__).resolve().parents[2]
# The release zips beside the checkout (CI: ../shared/osticket), or wherever OSTICKET_SOURCE points.
RELEASES = [REPO.parent / "shared" / "osticket"]
if os.environ.get("OSTICKET_SOURCE"):
    RELEASES.insert(0, Path(os.environ["OSTICKET_SOURCE"]).parent)


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("OSTOPS_ALLOW_UNSUPPORTED_PHP", raising=False)


def readme_of(zip_name: str, tmp_path: Path) -> Path:
    path = next((d / zip_name for d in RELEASES if (d / zip_name).exists()), None)
    if path is None:
        pytest.skip(f"{zip_name} is not in {', '.join(map(str, RELEASES))}")
    with zipfile.ZipFile(path) as archive:
        (tmp_path / "README.md").write_bytes(archive.read("upload/README.md"))
    return tmp_path


@pytest.mark.parametrize(("zip_name", "expected"), [
    ("osTicket-v1.18.1.zip", ((8, 1), (8, 2))),
    ("osTicket-v1.17.5.zip", ((8, 0), (8, 2))),
])
def test_range_from_the_release_readme(tmp_path, zip_name, expected):
    assert source.php_range(readme_of(zip_name, tmp_path)) == expected


def test_no_readme_or_no_range_means_no_check(tmp_path):
    assert source.php_range(tmp_path) is None
    (tmp_path / "README.md").write_text("osTicket\n  * PHP version 8.0 (or greater)\n")
    assert source.php_range(tmp_path) is None


def fake_source(tmp_path: Path, readme: str) -> source.OsTicketSource:
    (tmp_path / "README.md").write_text(readme)
    return source.OsTicketSource(tmp_path, "1.18.1", "--source /x/osTicket-v1.18.1.zip")


def test_a_php_outside_the_range_is_refused_naming_both(tmp_path, monkeypatch):
    monkeypatch.setattr(webserver, "php_version", lambda: (8, 4))
    src = fake_source(tmp_path, "  * PHP version 8.1 - 8.2 (8.2 recommended)\n")
    with pytest.raises(SourceError) as caught:
        manager.php_support_warning(src)
    message = str(caught.value)
    assert "osTicket 1.18.1 supports PHP 8.1-8.2" in message
    assert "this machine has PHP 8.4" in message
    assert message.startswith("--source /x/osTicket-v1.18.1.zip")


@pytest.mark.parametrize("php", [(8, 1), (8, 2)])
def test_a_php_inside_the_range_passes(tmp_path, monkeypatch, php):
    monkeypatch.setattr(webserver, "php_version", lambda: php)
    assert manager.php_support_warning(fake_source(tmp_path, "PHP version 8.1 - 8.2\n")) is None


def test_the_refusal_can_be_overridden_at_ones_own_risk_and_then_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(webserver, "php_version", lambda: (8, 4))
    src = fake_source(tmp_path, "  * PHP version 8.1 - 8.2 (8.2 recommended)\n")
    with pytest.raises(SourceError, match="OSTOPS_ALLOW_UNSUPPORTED_PHP=1 to try it at your own risk"):
        manager.php_support_warning(src)
    monkeypatch.setenv("OSTOPS_ALLOW_UNSUPPORTED_PHP", "1")
    warning = manager.php_support_warning(src)
    assert warning is not None
    assert "supports PHP 8.1-8.2" in warning and "PHP 8.4" in warning and "does not support this" in warning


def test_fpm_binary_follows_the_cli_release(tmp_path, monkeypatch):
    (tmp_path / "php-fpm8.3").write_text("#!/bin/sh\n")
    (tmp_path / "php-fpm8.3").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(webserver, "php_version", lambda: (8, 3))
    assert webserver.fpm_binary() == str(tmp_path / "php-fpm8.3")
    monkeypatch.setattr(webserver, "php_version", lambda: (8, 1))
    with pytest.raises(EnvironmentProblem, match=r"install the Debian package php8\.1-fpm"):
        webserver.fpm_binary()


def fake_php(tmp_path: Path, version: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "php").write_text(f"#!/bin/sh\nprintf '{version}'\n")
    (bin_dir / "php").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize("version", ["7.4", "8.0", "8.5"])
def test_setup_refuses_an_unsupported_php_by_name_before_installing(tmp_path, version):
    result = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--lab"], env=fake_php(tmp_path, version),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert f"PHP {version} is not one osTicket 1.18 supports (8.1 8.2 8.3 8.4)" in result.stderr
    assert "installing" not in result.stdout


def test_setup_refuses_an_unknown_option(tmp_path):
    result = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--everything"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "unknown option '--everything'" in result.stderr
