"""`ostops local up` on an existing instance names the options it did not apply (--port, --source)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from automation.cli import cli
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import manager


def _existing(base: Path) -> Instance:
    base.mkdir(mode=0o700)
    instance = Instance(
        kind="local", url="http://127.0.0.1:8123/", osticket_version="1.18.1",
        api_key=SecretStr("A" * 32), admin=Login(username="a", password=SecretStr("b")),
        db=DatabaseAccess(host="127.0.0.1", port=3307, name="osticket", user="osticket", password=SecretStr("c")),
        local=LocalProcesses(dir=str(base), webroot=str(base / "www"), source="/src/osTicket/upload",
                             http_port=8123, fpm_port=9001, db_port=3307,
                             pids={"nginx": 1, "php-fpm": 2, "mariadb": 3}, db_root_password=SecretStr("d")),
    )
    instance.save(manager.instance_file(base))
    return instance


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "running_services", lambda _: dict.fromkeys(manager.SERVICES, True))


@pytest.mark.usefixtures("running")
def test_a_running_instance_reports_the_port_and_source_it_ignored(tmp_path: Path) -> None:
    base = tmp_path / "inst"
    _existing(base)
    result = manager.up(base, Path("/tmp/osTicket-v1.18.3.zip"), 9999)
    assert result.already_running
    assert result.ignored == [
        "--port 9999 ignored: the instance listens on 8123 (--fresh rebuilds it on the new port)",
        ("--source /tmp/osTicket-v1.18.3.zip ignored: the instance keeps osTicket 1.18.1 from "
        "/src/osTicket/upload (--fresh rebuilds it from the new source)"),
    ]


@pytest.mark.usefixtures("running")
def test_nothing_is_reported_when_no_option_was_given_or_the_port_is_the_instance_s(tmp_path: Path) -> None:
    base = tmp_path / "inst"
    _existing(base)
    assert manager.up(base).ignored == []
    assert manager.up(base, http_port=8123).ignored == []


def test_a_restarted_instance_reports_them_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "inst"
    _existing(base)
    monkeypatch.setattr(manager, "running_services", lambda _: dict.fromkeys(manager.SERVICES, False))
    monkeypatch.setattr(manager, "down", lambda *_: [])
    monkeypatch.setattr(manager, "_start_services", lambda *_: None)
    monkeypatch.setattr(manager, "_wait_healthy", lambda *_: None)
    result = manager.up(base, http_port=9999)
    assert result.restarted
    assert result.ignored == ["--port 9999 ignored: the instance listens on 8123 (--fresh rebuilds it on the new port)"]


@pytest.mark.usefixtures("running")
def test_the_command_prints_each_ignored_option_as_a_warning(tmp_path: Path) -> None:
    base = tmp_path / "inst"
    _existing(base)
    result = CliRunner().invoke(cli, ["local", "up", "--dir", str(base), "--port", "9999",
                                      "--source", str(tmp_path / "other.zip")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: --port 9999 ignored: the instance listens on 8123" in text
    assert f"warning: --source {tmp_path / 'other.zip'} ignored: the instance keeps osTicket 1.18.1" in text
    assert "already running at http://127.0.0.1:8123/" in text


def _webroot(folder: Path) -> Path:
    """A folder that looks like osTicket's upload/ (what `source.webroot_of` checks)."""
    (folder / "include").mkdir(parents=True)
    (folder / "include" / "ost-sampleconfig.php").write_text("<?php\n")
    (folder / "setup").mkdir()
    (folder / "setup" / "setup.inc.php").write_text("<?php\n")
    return folder


@pytest.mark.usefixtures("running")
def test_the_instance_s_own_source_is_not_reported_as_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: `local up --source X` with the source the instance was built from warned that it was ignored."""
    import zipfile

    from automation.local import source

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    archive = tmp_path / "osTicket-v1.18.1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("upload/index.php", "<?php\n")
    unpacked = _webroot(source.cache_root() / f"zip-{source._sha256(archive)[:16]}" / "upload")
    base = tmp_path / "inst"
    instance = _existing(base)
    assert instance.local is not None
    instance.local.source = str(unpacked)
    instance.local.source_origin = "OSTICKET_SOURCE /elsewhere/osTicket.zip"
    instance.save(manager.instance_file(base))
    tree = _webroot(tmp_path / "tree" / "upload")
    for own in (archive, unpacked, unpacked.parent):  # the zip, its upload/ folder, the folder holding upload/
        assert manager.up(base, own).ignored == [], own
    assert manager.up(base, tmp_path / "tree").ignored != []  # another source tree is still reported
    assert tree.is_dir()
    instance.local.source_origin = f"--source {archive}"  # the path it was given, unpacked elsewhere since
    instance.local.source = "/gone/upload"
    instance.save(manager.instance_file(base))
    assert manager.up(base, archive).ignored == []
    result = CliRunner().invoke(cli, ["local", "up", "--dir", str(base), "--source", str(archive)])
    assert result.exit_code == 0, result.output
    assert "ignored" not in result.output


@pytest.mark.parametrize("stopped", [False, True])
def test_the_security_floor_warning_is_not_repeated_on_an_existing_instance(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped: bool) -> None:
    """Issue 23: osTicket 1.18.1 is below the security floor; the warning belongs to the `up` that installs it
    (tests/e2e/test_local_e2e.py checks that one says it), not to every later `up` that finds or restarts it."""
    from automation.versions import below_security_floor

    base = tmp_path / "inst"
    instance = _existing(base)
    assert below_security_floor(instance.osticket_version)
    monkeypatch.setattr(manager, "running_services", lambda _: dict.fromkeys(manager.SERVICES, not stopped))
    monkeypatch.setattr(manager, "down", lambda *_: [])
    monkeypatch.setattr(manager, "_start_services", lambda *_: None)
    monkeypatch.setattr(manager, "_wait_healthy", lambda *_: None)
    result = CliRunner().invoke(cli, ["local", "up", "--dir", str(base)])
    assert result.exit_code == 0, result.output
    assert ("restarted" if stopped else "already running") in result.output
    assert "security floor" not in result.output and "warning" not in result.output
