"""``ostops local up | down | status | env``: a real osTicket on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from automation.cli.common import Outcome, escape, instance_option, out, progress, warn
from automation.errors import UsageError
from automation.paths import default_instance_path, local_dir_from_environment
from automation.workspace import Workspace


@click.group()
def local() -> None:
    """A real osTicket on 127.0.0.1 (MariaDB, php-fpm, nginx as plain processes)."""


dir_option = click.option("--dir", "base", type=click.Path(path_type=Path), default=None,
                          help="Instance folder (default: the folder of $OSTOPS_INSTANCE, else "
                               "~/.local/state/ostops/local).")


def _workspace(base: Path | None, instance_path: Path | None) -> Workspace:
    """The instance `status` and `env` read: ``--dir``'s (as `up` and `down` take it), else ``--instance``'s."""
    if base is not None and instance_path is not None:
        raise click.UsageError("--dir and --instance both name the instance; give one")
    if base is not None:
        return Workspace(base.expanduser() / "instance.json")
    return Workspace.at(instance_path)


@local.command("up")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="osTicket release zip, its upload/ folder, or a source tree.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default 8080 if free).")
@dir_option
@click.option("--fresh", is_flag=True, help="Replace the instance in --dir with a new one (the old one is kept "
                                             "until the new one answers, and put back if it fails).")
@click.option("--yes", "-y", is_flag=True, help="With --fresh: do not ask (needed when standard input is not a "
                                                "terminal).")
@click.option("--web-nodes", type=click.IntRange(1, 16), default=None,
              help="Web nodes (default 1). 2 or more: each its own php-fpm and nginx over one osTicket tree, "
                   "behind HAProxy on --port (round-robin, health-checked), MariaDB requiring TLS.")
def local_up(source: Path | None, port: int | None, base: Path | None, fresh: bool, yes: bool,
             web_nodes: int | None) -> None:
    """Bring up osTicket locally (a no-op when it is already running)."""
    from automation.local import manager

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            raise UsageError(f"{question} Standard input is not a terminal, so confirm with --yes; nothing was "
                             "changed")
        return click.confirm(question, default=False)

    result = manager.up(base or local_dir_from_environment(), source, port, fresh, progress,
                        None if yes else confirm, web_nodes=web_nodes)
    for warning in [*result.warnings, *result.ignored]:
        warn(warning)
    inst = result.instance
    state = "already running" if result.already_running else "restarted" if result.restarted else "ready"
    out.print(f"osTicket {inst.osticket_version} {state} at {inst.base_url} (staff panel {inst.base_url}scp/) "
              f"in {result.seconds:.1f} s")
    assert inst.local is not None
    if inst.local.web_nodes:
        ports = ", ".join(str(node.http_port) for node in inst.local.web_nodes)
        out.print(f"{len(inst.local.web_nodes)} web nodes (ports {ports}) behind HAProxy; MariaDB requires TLS "
                  f"(CA {escape(inst.db.ssl_ca or '')})")
    path = manager.instance_file(Path(inst.local.dir))
    if path.resolve() == default_instance_path().expanduser().resolve():
        out.print(f"instance file: {escape(str(path))}  (`ostops local env` shows it)")
    else:
        out.print(f"instance file: {escape(str(path))}; point the other commands at it with:\n"
                  f"  export OSTOPS_INSTANCE={escape(str(path))}")


@local.command("down")
@dir_option
def local_down(base: Path | None) -> None:
    """Stop exactly the processes `up` started."""
    from automation.local import manager

    folder = base or local_dir_from_environment()
    if not manager.instance_file(folder.expanduser()).exists():
        out.print(f"no instance in {escape(str(folder))}: nothing to stop")
        return
    stopped = manager.down(folder, progress)
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local.command("status")
@dir_option
@instance_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def local_status(base: Path | None, instance_path: Path | None, as_json: bool) -> Outcome | None:
    """Health: processes, HTTP 200 on /, osTicket's tables, the API key active in osTicket."""
    from automation.cli.instance import show_health
    from automation.local import manager

    return show_health("local status", manager.status(_workspace(base, instance_path).instance()), as_json)


@local.command("env")
@dir_option
@instance_option
@click.option("--show-secrets", is_flag=True, help="Print passwords and the API key in clear.")
def local_env(base: Path | None, instance_path: Path | None, show_secrets: bool) -> None:
    """Print the connection details as shell exports (secrets masked)."""
    for line in _workspace(base, instance_path).instance().shell_exports(show_secrets):
        click.echo(line)




@local.command("logins")
@instance_option
@click.option("--show-secrets", is_flag=True, help="Print the passwords in clear.")
def local_logins(instance_path: Path | None, show_secrets: bool) -> None:
    """The login card: staff panel and Support Center, the admin and every agent, the requesters' tickets."""
    from rich.table import Table

    from automation.instance import SECRET_MASK
    from automation.local.logins import card

    found = card(Workspace.at(instance_path))

    def shown(password: str | None) -> str:
        if password is None:
            return "[dim]not set by ostops[/dim]"
        return escape(password) if show_secrets else SECRET_MASK

    out.print(f"staff panel     {escape(found.staff_url)}")
    out.print(f"Support Center  {escape(found.portal_url)}")
    people = Table("who", "user name", "password", title="Staff panel logins")
    people.add_row(f"{escape(found.admin.name)} (admin)", escape(found.admin.username), shown(found.admin.password))
    for agent in found.agents:
        people.add_row(escape(agent.name), escape(agent.username), shown(agent.password))
    out.print(people)
    if not show_secrets:
        out.print("passwords masked: add --show-secrets to see them")
    if found.tickets:
        tickets = Table("ticket", "requester", "e-mail",
                        title=f"The requesters' side, run {escape(found.run_id or '')}")
        for t in found.tickets:
            tickets.add_row(escape(t.number), escape(t.name), escape(t.email))
        out.print(tickets)
    out.print(f"To see a ticket as its requester: open {escape(found.check_status_url)} (Sign In, \"Check Ticket "
              "Status\"), give the requester's e-mail and the ticket number. With the lab's seed "
              "(status_check_email_verification: false) osTicket opens the ticket at once; otherwise it mails an "
              "access link.")
