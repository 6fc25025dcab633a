"""The ``ostops`` command line. Errors map to exit codes here and only here:
0 success · 1 the remote side or the environment failed · 2 bad input (nothing was written)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from automation.errors import OsTicketError, SeedError, VerificationError
from automation.instance import Instance, default_instance_path, default_local_dir

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

instance_option = click.option(
    "--instance", "instance_path", type=click.Path(path_type=Path), default=None,
    help="Instance file (default: $OSTOPS_INSTANCE or ~/.local/state/ostops/local/instance.json).",
)


def load_instance(path: Path | None) -> Instance:
    return Instance.load(path or default_instance_path())


def progress(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ostops")
def cli() -> None:
    """Run osTicket as code: a local instance or Azure, seeding, the ticket lifecycle, verification."""


@cli.group()
def local() -> None:
    """A real osTicket on 127.0.0.1 (MariaDB, php-fpm, nginx as plain processes)."""


dir_option = click.option("--dir", "base", type=click.Path(path_type=Path), default=None,
                          help="Instance folder (default: ~/.local/state/ostops/local).")


@local.command("up")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="osTicket release zip, its upload/ folder, or a source tree.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default 8080 if free).")
@dir_option
@click.option("--fresh", is_flag=True, help="Remove the instance in --dir and build a new one.")
def local_up(source: Path | None, port: int | None, base: Path | None, fresh: bool) -> None:
    """Bring up osTicket locally (a no-op when it is already running)."""
    from automation.local import manager

    result = manager.up(base or default_local_dir(), source, port, fresh, progress)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    inst = result.instance
    state = "already running" if result.already_running else "restarted" if result.restarted else "ready"
    out.print(f"osTicket {inst.osticket_version} {state} at {inst.base_url} (staff panel {inst.base_url}scp/) "
              f"in {result.seconds:.1f} s")
    assert inst.local is not None
    out.print(f"instance file: {manager.instance_file(Path(inst.local.dir))}  (`ostops local env` shows it)")


@local.command("down")
@dir_option
def local_down(base: Path | None) -> None:
    """Stop exactly the processes `up` started."""
    from automation.local import manager

    stopped = manager.down(base or default_local_dir(), progress)
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local.command("status")
@instance_option
def local_status(instance_path: Path | None) -> None:
    """Health: processes, HTTP 200 on /, database ping, API key accepted."""
    from automation.local import manager

    health = manager.status(load_instance(instance_path))
    table = Table("check", "ok", "detail")
    for name, (ok, detail) in health.checks.items():
        table.add_row(name, "[green]yes[/green]" if ok else "[red]no[/red]", detail)
    out.print(table)
    out.print("healthy" if health.healthy else "UNHEALTHY")
    if not health.healthy:
        sys.exit(1)


@local.command("env")
@instance_option
@click.option("--show-secrets", is_flag=True, help="Print passwords and the API key in clear.")
def local_env(instance_path: Path | None, show_secrets: bool) -> None:
    """Print the connection details as shell exports (secrets masked)."""
    for line in load_instance(instance_path).shell_exports(show_secrets):
        out.print(line, soft_wrap=True)


def _register_optional_groups() -> None:
    import importlib

    for module, attr in (("automation.manifest_cli", "manifest_group"),):
        try:
            group = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        cli.add_command(group)


_register_optional_groups()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except SeedError as exc:
        console.print(f"[red]error:[/red] {exc}")
        for problem in exc.problems:
            console.print(f"  {problem}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except VerificationError as exc:
        console.print(f"[red]verification failed:[/red] {exc}")
        for mismatch in exc.mismatches:
            console.print(f"  {mismatch}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except OsTicketError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
