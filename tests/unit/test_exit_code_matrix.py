"""Issue 23: every command, each exit code it can give (0 ok, 1 expectations not met, 2 bad input, 3 changes
pending, 4 osTicket or the environment failed, 130/143 interrupted), each pinned by a test.

Where each pair is tested ("here": this file; u: tests/unit, e: tests/e2e):

| command            | 0                      | 1                        | 2                            | 3            | 4                                 | 130/143                   |
|--------------------|------------------------|--------------------------|------------------------------|--------------|-----------------------------------|---------------------------|
| local up           | e test_local           | -                        | u test_local_up_ignored, here| -            | e test_local (busy port)          | here (generic)            |
| local down         | e test_local           | -                        | here (unknown option)        | -            | -                                 | -                         |
| local status       | u test_json_output     | -                        | here                         | -            | u test_json_output (unhealthy)    | -                         |
| local env / logins | e test_local, test_logins | -                     | here                         | -            | -                                 | -                         |
| validate           | u test_validate        | -                        | u test_validate              | -            | - (offline: nothing to fail)      | -                         |
| seed               | e test_seed            | -                        | u test_cli_exit_codes, here  | u test_cli_exit_codes | u test_cli_exit_codes, e test_seed_lock | here         |
| run                | e test_lifecycle       | e test_faults            | e test_iterating, here       | -            | u test_cli_exit_codes, e test_faults | e test_interrupted_run |
| verify             | e test_lifecycle       | e test_interrupted_run   | e test_runs, here            | -            | u test_cli_exit_codes             | -                         |
| report             | e test_runs            | -                        | u test_json_output, here     | -            | u test_cli_exit_codes             | here                      |
| runs               | e test_runs            | -                        | here                         | -            | - (reads local records only)      | -                         |
| purge              | u test_purge_cli       | -                        | u test_purge_cli, here       | -            | u test_cli_exit_codes             | -                         |
| lab reset          | e test_iterating       | -                        | e test_iterating, here       | -            | here                              | -                         |
| mail / mail show   | u test_mail_show       | -                        | here                         | -            | - (reads local files only)        | -                         |
| load               | e test_load            | e test_load              | here                         | -            | here                              | -                         |
| instance add       | u test_instance_add    | -                        | u test_instance_add, here    | -            | - (written anyway, checks warned) | -                         |
| instance status    | e test_external        | -                        | here                         | -            | here                              | -                         |
| instance from-stack| u test_stack_outputs   | -                        | u test_input_stack, here     | -            | -                                 | -                         |
| manifest check/hash| u test_json_output, test_manifest | -             | u test_manifest, here        | -            | u test_source_download            | -                         |
| rotate *           | e test_rotate          | e test_rotate (rolled back) | e test_rotate, here       | -            | here                              | -                         |
| backup [verify]    | e test_operations      | e test_operations (a damaged file) | here               | -            | here                              | -                         |
| restore            | e test_operations      | e test_operations (a damaged file) | here               | -            | -                                 | -                         |
| upgrade            | e test_operations      | e test_operations (rolled back) | here                  | -            | here                              | -                         |

"here (generic)": every command is run through the one mapping (`automation.cli.main`), so an Interrupted raised
anywhere gives 130/143; the two commands tested here stand for the rest."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

import automation.cli as cli_module
from automation.errors import Interrupted, LocalInstanceError

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "seed" / "scenarios" / "lab.yaml"
SEED = REPO / "seed" / "helpdesk.yaml"


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["ostops", *args])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    return int(stopped.value.code or 0)


def leaf_commands(command: click.Command = cli_module.cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path] if path else []
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += leaf_commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("path", leaf_commands(), ids=" ".join)
def test_an_unknown_option_is_bad_input_on_every_command(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         path: tuple[str, ...]) -> None:
    assert run_main(monkeypatch, *path, "--no-such-option") == 2
    assert "No such option" in capsys.readouterr().err


NEEDS_INSTANCE = [
    ["seed", str(SEED)], ["run", str(LAB)], ["verify", str(LAB)], ["report"], ["purge", "--run", "20261127150543-f51f",
    "--yes"], ["lab", "reset", "--yes"], ["mail"], ["mail", "show", "1"], ["load", "--tickets", "1", "--concurrency",
    "1"], ["local", "status"], ["local", "env"], ["local", "logins"], ["instance", "status"], ["rotate", "api-key",
    "--yes"], ["rotate", "agent-passwords", "--yes"], ["rotate", "admin-password", "--yes"], ["rotate",
    "db-password", "--yes"], ["backup"], ["upgrade", "--to", "1.18.1"],
]


@pytest.mark.parametrize("args", NEEDS_INSTANCE, ids=" ".join)
def test_no_instance_file_is_bad_input_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    missing = tmp_path / "nowhere" / "instance.json"
    assert run_main(monkeypatch, *args, "--instance", str(missing)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{missing}: no instance file" in err and "ostops local up" in err


@pytest.mark.parametrize("args", [
    ["local", "up", "--web-nodes", "0"], ["local", "up", "--port", "0"], ["validate"],
    ["instance", "from-stack", "{tmp}/missing.json"], ["instance", "add", "x", "--url", "ftp://x/", "--db-host", "h"],
    ["manifest", "check", "--manifest", "{tmp}/missing.json"], ["backup", "verify", "{tmp}/missing.age"],
    ["restore", "{tmp}/missing.age", "--yes"], ["runs", "--json", "--instance"],
])
def test_bad_arguments_are_bad_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]) -> None:
    monkeypatch.delenv("OSTOPS_BACKUP_PASSPHRASE", raising=False)
    assert run_main(monkeypatch, *(a.format(tmp=tmp_path) for a in args)) == 2


def _stopped(workspace: object) -> object:
    raise LocalInstanceError("the local osTicket is not running (mariadb stopped)")


@pytest.mark.parametrize("args", [
    ["lab", "reset", "--yes"], ["load", "--tickets", "1", "--concurrency", "1"], ["rotate", "api-key", "--yes"],
    ["rotate", "agent-passwords", "--yes"], ["rotate", "admin-password", "--yes"], ["rotate", "db-password", "--yes"],
    ["backup"], ["upgrade", "--to", "1.18.1"],
], ids=" ".join)
def test_a_stopped_instance_is_the_environment_4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    for module in ("common", "lab", "load", "rotate", "runs", "scenario", "seed"):
        monkeypatch.setattr(f"automation.cli.{module}.running_instance", _stopped)
    monkeypatch.setenv("OSTOPS_BACKUP_PASSPHRASE", "correct horse battery staple")
    assert run_main(monkeypatch, *args, "--instance", str(tmp_path / "instance.json")) == 4
    assert "not running" in capsys.readouterr().err


def test_instance_status_of_an_unreachable_help_desk_is_4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from automation.local.manager import Health

    external = SimpleNamespace(local=None, kind="external", tier=None, management_route=None)
    monkeypatch.setattr("automation.workspace.Workspace.instance", lambda self: external)
    monkeypatch.setattr("automation.health.check", lambda instance: Health(
        {"http": (False, "connection refused"), "database": (False, "(2003) Can't connect")}))
    assert run_main(monkeypatch, "instance", "status", "--instance", str(tmp_path / "i.json")) == 4
    assert "connection refused" in capsys.readouterr().out


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("args", [["report"], ["seed", str(SEED)]], ids=" ".join)
def test_an_interrupted_command_exits_as_the_shell_would(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         args: list[str], signum: int, code: int) -> None:
    def interrupted(workspace: object) -> object:
        raise Interrupted(signum)

    for module in ("common", "scenario", "seed"):
        monkeypatch.setattr(f"automation.cli.{module}.running_instance", interrupted)
    assert run_main(monkeypatch, *args, "--instance", str(tmp_path / "instance.json")) == code
