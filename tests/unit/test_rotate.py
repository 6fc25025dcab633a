"""`ostops rotate` without a database: ost-config.php's defines read and replaced byte for byte, files replaced
keeping their mode, the undo of a failed rotation, and what is refused before anything changes (exit 2)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from automation.cli import cli, exit_code_for
from automation.errors import ConfigError, RotationError, UsageError
from automation.files import replace_keeping_mode
from automation.instance import DatabaseAccess, Instance, Login
from automation.operations import rotate
from automation.osticket.config_file import php_quote, read_define, replace_define
from automation.workspace import Workspace

CONFIG = """<?php
# define('DBPASS','commented out');  (still a second define: refused rather than guessed)
define('DBHOST','127.0.0.1:3306');
define('DBPASS','old\\\\pass\\'word');
define('SECRET_SALT','salt');
"""


def make_instance(kind: str = "local") -> Instance:
    return Instance(kind=kind, url="http://127.0.0.1:8080", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
                    admin=Login(username="ostadmin", password=SecretStr("admin-pw")),
                    db=DatabaseAccess(host="127.0.0.1", port=3307, name="osticket", user="osticket",
                                      password=SecretStr("db-pw")))


def workspace_with(tmp_path: Path, agents: dict[str, str] | None) -> Workspace:
    workspace = Workspace.at(tmp_path / "instance.json")
    make_instance().save(workspace.instance_file)
    if agents is not None:
        workspace.credentials_file.write_text(json.dumps({"agents": agents, "api_keys": {}}), encoding="utf-8")
        workspace.credentials_file.chmod(0o600)  # as the seed writes it; a readable one is refused
    return workspace


# -- ost-config.php ------------------------------------------------------------------------------------------
def test_a_define_is_read_as_php_reads_a_single_quoted_string() -> None:
    assert read_define(CONFIG.replace("# define('DBPASS','commented out');", "#"), "DBPASS") \
        == "old\\pass'word"
    assert php_quote("a'b\\c") == "a\\'b\\\\c"


def test_two_defines_of_one_name_are_refused_naming_the_file() -> None:
    with pytest.raises(ConfigError, match=r"/x/ost-config.php: expected one define\('DBPASS'"):
        read_define(CONFIG, "DBPASS", "/x/ost-config.php")
    with pytest.raises(ConfigError, match="found 0"):
        read_define(CONFIG, "DBUSER")


def test_replacing_a_define_changes_its_value_and_no_other_byte() -> None:
    text = CONFIG.replace("# define('DBPASS','commented out');", "#")
    new = replace_define(text, "DBPASS", "n'ew\\pw")
    assert read_define(new, "DBPASS") == "n'ew\\pw"
    assert new.replace("define('DBPASS','n\\'ew\\\\pw');", "") == text.replace("define('DBPASS','old\\\\pass\\'word');", "")


# -- files ---------------------------------------------------------------------------------------------------
def test_a_read_only_file_is_replaced_keeping_its_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "ost-config.php"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o440)
    before = path.stat()
    replace_keeping_mode(path, "new")
    after = path.stat()
    assert path.read_text(encoding="utf-8") == "new"
    assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (0o440, before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # a new file renamed over the old one, not the old one rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["ost-config.php"]


# -- undo ----------------------------------------------------------------------------------------------------
def test_undo_runs_newest_first_and_names_a_step_it_could_not_undo() -> None:
    done: list[str] = []
    undo = rotate.Undo()
    undo.push("the database", lambda: done.append("database"))

    def broken() -> None:
        raise OSError("disk full")

    undo.push("the config file", broken)
    undo.push("the instance file", lambda: done.append("instance"))
    notes = undo.unwind()
    assert done == ["instance", "database"]
    assert notes == ["rolled back: the instance file",
                     "NOT rolled back: the config file (disk full); put it back by hand",
                     "rolled back: the database"]
    assert undo.unwind() == []


def test_a_failed_rotation_says_what_was_rolled_back_and_exits_1() -> None:
    def steps(undo: rotate.Undo) -> rotate.Rotated:
        undo.push("the MariaDB password", lambda: None)
        raise RotationError("cannot write /w/include/ost-config.php: Operation not permitted")

    with pytest.raises(RotationError) as caught:
        rotate._run("db-password", steps)
    assert str(caught.value) == ("rotate db-password failed: cannot write /w/include/ost-config.php: Operation not "
                                 "permitted; every step was rolled back")
    assert caught.value.problems == ["rolled back: the MariaDB password"]
    assert exit_code_for(caught.value) == 1


# -- refused before anything changes (exit 2) ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["api-key", "admin-password", "db-password"])
def test_secrets_kept_in_key_vault_are_not_rotated_on_azure_here(tmp_path: Path, kind: str) -> None:
    with pytest.raises(UsageError, match=f"rotate {kind} works on local instances only.*Key Vault"):
        rotate.prepare(kind, Workspace.at(tmp_path / "instance.json"), make_instance("azure"))


def test_agents_to_rotate_are_the_seeded_ones_and_never_the_admin(tmp_path: Path) -> None:
    workspace = workspace_with(tmp_path, {"john.doe": "a", "Jane.Doe": "b", "ostadmin": "c"})
    instance = make_instance()
    assert rotate._agents_to_rotate(workspace, instance, ()) == ["Jane.Doe", "john.doe"]
    assert rotate._agents_to_rotate(workspace, instance, ("JOHN.DOE", "john.doe")) == ["john.doe"]
    with pytest.raises(UsageError, match=r"--agent nobody: not an agent .* \(seeded agents: Jane.Doe, john.doe\)"):
        rotate._agents_to_rotate(workspace, instance, ("nobody",))
    with pytest.raises(UsageError, match="ostops rotate admin-password"):
        rotate._agents_to_rotate(workspace, instance, ("OstAdmin",))


def test_no_seeded_agents_is_said_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"credentials\.json: no agent passwords to rotate .*ostops seed"):
        rotate._agents_to_rotate(workspace_with(tmp_path, None), make_instance(), ())


def test_a_password_from_the_environment_is_not_rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTOPS_PASSWORD_JOHN_DOE", "from-the-vault")
    workspace = workspace_with(tmp_path, {"john.doe": "a"})
    with pytest.raises(UsageError, match=r"comes from \$OSTOPS_PASSWORD_JOHN_DOE, which ostops cannot change"):
        rotate.prepare("agent-passwords", workspace, make_instance())


def test_without_an_instance_file_rotate_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["rotate", "api-key", "--yes", "--instance", str(tmp_path / "none.json")],
                                standalone_mode=False)
    assert isinstance(result.exception, ConfigError) and exit_code_for(result.exception) == 2
    assert "no instance file" in str(result.exception)
    assert os.listdir(tmp_path) == []


def test_only_access_denied_proves_mariadb_refuses_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    import pymysql

    from automation.errors import DatabaseError

    answers: list[int | None] = []

    def connect(instance: Instance, autocommit: bool = True) -> object:
        code = answers.pop(0)
        if code is None:
            class Open:
                def close(self) -> None:
                    return None
            return Open()
        try:
            raise pymysql.err.OperationalError(code, "…")
        except pymysql.err.OperationalError as exc:
            raise DatabaseError("cannot connect") from exc

    monkeypatch.setattr(rotate.db, "connect", connect)
    answers[:] = [2013, 1045]  # a handshake timing out on a loaded machine is not a refusal: tried again
    assert rotate.refused_by_mariadb(make_instance(), "old") is True
    answers[:] = [None]
    assert rotate.refused_by_mariadb(make_instance(), "old") is False
    answers[:] = [2013, 2013, 2013]
    with pytest.raises(DatabaseError):
        rotate.refused_by_mariadb(make_instance(), "old")


def test_a_signal_during_a_rotation_waits_for_it_to_finish() -> None:
    import signal

    from automation.cli.rotate import apply_whole

    done: list[str] = []

    def apply(_progress: object) -> rotate.Rotated:
        done.append("database")
        signal.raise_signal(signal.SIGINT)  # Ctrl-C between the database and the files
        done.append("files")
        return rotate.Rotated("api-key", ["API key 1"])

    rotated, interrupted = apply_whole(rotate.Rotation("api-key", "?", apply))
    assert done == ["database", "files"] and rotated.lines == ["API key 1"]
    assert interrupted is not None and interrupted.signum == signal.SIGINT
    assert exit_code_for(interrupted) == 130


def test_a_second_signal_stops_a_rotation_at_once_and_it_undoes_itself() -> None:
    import signal

    from automation.cli.rotate import apply_whole

    undone: list[str] = []

    def apply(_progress: object) -> rotate.Rotated:
        def steps(undo: rotate.Undo) -> rotate.Rotated:
            undo.push("the MariaDB password", lambda: undone.append("database"))
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)  # a CI runner escalating
            raise AssertionError("not reached")

        return rotate._run("db-password", steps)

    with pytest.raises(RotationError, match="interrupted by SIGTERM; every step was rolled back"):
        apply_whole(rotate.Rotation("db-password", "?", apply))
    assert undone == ["database"]


@pytest.mark.parametrize("pid", [-1, 0])
def test_reloading_php_fpm_never_signals_a_pid_it_does_not_know(tmp_path: Path, pid: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from automation.errors import LocalInstanceError
    from automation.local import webserver

    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(webserver.os, "kill", lambda *args: sent.append(args))
    # kill(-1, SIGUSR2) would reach every process this user may signal (a multi-node instance has no
    # "php-fpm" pid, only "php-fpm@1", "php-fpm@2")
    with pytest.raises(LocalInstanceError, match="is not running"):
        webserver.reload_fpm(pid, tmp_path)
    assert sent == []
