"""``ostops runs`` and ``ostops purge``: the runs recorded on this instance, and removing them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from automation.cli.common import escape, instance_option, out, print_json, progress, running_instance
from automation.errors import ConfigError
from automation.workspace import Workspace

RUN_ID = re.compile(r"^[A-Za-z0-9-]+$")
AGE = re.compile(r"^([0-9]+)([dhm])$")


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


def _age(text: str) -> float:
    """``7d``, ``12h``, ``30m`` → seconds."""
    match = AGE.match(text)
    if match is None:
        raise ConfigError(f"--older-than {text!r}: not an age; write it like 7d, 12h or 30m")
    return int(match.group(1)) * {"d": 86400, "h": 3600, "m": 60}[match.group(2)]


@click.command("purge")
@click.option("--run", "run_id", default=None, help="The run whose tickets are deleted (see `ostops runs`).")
@click.option("--all-runs", is_flag=True, help="Every run recorded on this instance (with --older-than: the older "
                                               "ones).")
@click.option("--older-than", default=None, help="With --all-runs: only runs started longer ago than this (7d, "
                                                 "12h, 30m).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when standard input is not a terminal).")
@instance_option
def purge_command(run_id: str | None, all_runs: bool, older_than: str | None, yes: bool,
                  instance_path: Path | None) -> None:
    """Delete one run's tickets (or every recorded run's) from osTicket and their records here, leaving every
    other ticket alone. Nothing left to delete is success (exit 0), said so."""
    if run_id is not None and all_runs:
        raise click.UsageError("--run RUN_ID and --all-runs contradict each other; give one")
    if run_id is None and not all_runs:
        raise click.UsageError("give --run RUN_ID or --all-runs")
    if older_than is not None and not all_runs:
        raise click.UsageError("--older-than needs --all-runs")
    if run_id is not None and not RUN_ID.match(run_id):
        raise ConfigError(f"--run {run_id!r}: not a run id (letters, digits and '-'; see `ostops runs`)")
    min_age = _age(older_than) if older_than is not None else None
    workspace = Workspace.at(instance_path)
    if all_runs:
        _purge_all(workspace, min_age, older_than, yes)
        return
    assert run_id is not None
    _purge_one(workspace, run_id, yes)


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"purge would delete {what}; standard input is not a terminal, so confirm with --yes")
    click.confirm(question, abort=True, err=True)


def _purge_one(workspace: Workspace, run_id: str, yes: bool) -> None:
    from automation.scenarios.purge import find_run_tickets, purge_run
    from automation.scenarios.record import forget

    instance = running_instance(workspace)
    tickets = find_run_tickets(instance, run_id)
    if not tickets:
        forgotten = forget(workspace, run_id)
        out.print(f"run {run_id}: no tickets left in osTicket at {instance.base_url}; nothing to delete"
                  + ("; its record is removed" if forgotten else ""))
        return
    numbers = ", ".join(f"#{t.number}" for t in tickets[:10]) + (" …" if len(tickets) > 10 else "")
    _confirm(f"Delete {len(tickets)} ticket(s) of run {run_id} ({numbers}) from osTicket at {instance.base_url}? "
             "This cannot be undone", yes, f"{len(tickets)} ticket(s) of run {run_id}")
    deleted = purge_run(instance, run_id)
    forget(workspace, run_id)
    progress(f"deleted {numbers}")
    out.print(f"run {run_id}: {len(deleted)} ticket(s) deleted; other runs' tickets are untouched")


def _purge_all(workspace: Workspace, min_age: float | None, older_than: str | None, yes: bool) -> None:
    import datetime as dt

    from automation.scenarios.purge import purge_run
    from automation.scenarios.record import forget, run_summaries

    now = dt.datetime.now(dt.UTC)
    runs = [run.run_id for run in run_summaries(workspace)  # a run of unknown age is kept by --older-than
            if min_age is None or (run.started and (now - dt.datetime.fromisoformat(run.started)).total_seconds()
                                   > min_age)]
    scope = f"older than {older_than}" if older_than else "recorded"
    if not runs:
        out.print(f"no runs {scope} in {escape(str(workspace.runs_dir))}: nothing to delete")
        return
    instance = running_instance(workspace)
    _confirm(f"Delete the tickets of {len(runs)} run(s) {scope} from osTicket at {instance.base_url}? This cannot "
             "be undone", yes, f"the tickets of {len(runs)} run(s)")
    total = 0
    for run_id in runs:
        total += len(purge_run(instance, run_id))
        forget(workspace, run_id)
        progress(f"run {run_id}: purged")
    out.print(f"{len(runs)} run(s) {scope} purged: {total} ticket(s) deleted; other tickets are untouched")
