"""``ostops runs`` and ``ostops purge --run ID``: the runs recorded on this instance, and removing one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from automation.cli.common import escape, instance_option, out, print_json, progress, running_instance
from automation.errors import ConfigError
from automation.workspace import Workspace

RUN_ID = re.compile(r"^[A-Za-z0-9-]+$")


@click.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@instance_option
def runs_command(as_json: bool, instance_path: Path | None) -> None:
    """The runs recorded on this instance (scenario and load runs): scenario, when, tickets, verdict."""
    from rich.table import Column, Table

    from automation.scenarios.record import run_summaries

    workspace = Workspace.at(instance_path)
    runs = run_summaries(workspace)
    if as_json:
        print_json("runs", True, runs=[run.to_dict() for run in runs])
        return
    if not runs:
        out.print(f"no runs recorded in {escape(str(workspace.runs_dir))}")
        return
    # A run id is what the other commands take: never cut or wrapped, however long the scenario paths are.
    table = Table(Column("run", no_wrap=True, min_width=19), "kind", Column("scenario", overflow="fold"),
                  "started (UTC)", "tickets", "verdict")
    for run in runs:
        colour = {"passed": "green", "failed": "red"}.get(run.verdict, "yellow")
        table.add_row(run.run_id, run.kind, escape(run.scenario or "-"), run.started.replace("+00:00", "Z"),
                      str(run.tickets), f"[{colour}]{run.verdict}[/{colour}]")
    out.print(table)


@click.command("purge")
@click.option("--run", "run_id", required=True, help="The run whose tickets are deleted (see `ostops runs`).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when standard input is not a terminal).")
@instance_option
def purge_command(run_id: str, yes: bool, instance_path: Path | None) -> None:
    """Delete one run's tickets from osTicket (and its record here), leaving every other ticket alone."""
    from automation.scenarios.purge import find_run_tickets, purge_run
    from automation.scenarios.record import forget, unknown_run

    if not RUN_ID.match(run_id):
        raise ConfigError(f"--run {run_id!r}: not a run id (letters, digits and '-'; see `ostops runs`)")
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    tickets = find_run_tickets(instance, run_id)
    if not tickets:
        if forget(workspace, run_id):
            out.print(f"run {run_id}: no tickets left in osTicket; its record is removed")
            return
        raise ConfigError(unknown_run(run_id, instance.base_url, workspace))
    numbers = ", ".join(f"#{t.number}" for t in tickets[:10]) + (" …" if len(tickets) > 10 else "")
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"purge would delete {len(tickets)} ticket(s) of run {run_id}; "
                                   "standard input is not a terminal, so confirm with --yes")
        click.confirm(f"Delete {len(tickets)} ticket(s) of run {run_id} ({numbers}) from osTicket at "
                      f"{instance.base_url}? This cannot be undone", abort=True, err=True)
    deleted = purge_run(instance, run_id)
    forget(workspace, run_id)
    progress(f"deleted {numbers}")
    out.print(f"run {run_id}: {len(deleted)} ticket(s) deleted; other runs' tickets are untouched")
