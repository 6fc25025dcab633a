"""``ostops lab reset``: back to a clean lab on the same instance."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from automation.cli.common import instance_option, out, progress, running_instance
from automation.workspace import Workspace

LAB_SEED = Path(__file__).resolve().parents[2] / "seed" / "helpdesk.yaml"


@click.group("lab")
def lab_group() -> None:
    """The reference lab: start again without a new instance."""


@lab_group.command("reset")
@click.option("--seed", "seed_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The seed file to re-apply (default: the lab's seed/helpdesk.yaml).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when standard input is not a terminal).")
@instance_option
def reset_command(seed_path: Path | None, yes: bool, instance_path: Path | None) -> None:
    """Delete every run's tickets (and the runs' records), then re-apply the seed; the instance stays."""
    from automation.scenarios.purge import find_every_run_ticket, purge_every_run
    from automation.scenarios.record import forget, load_record, recorded_runs
    from automation.seeding.apply import apply_seed
    from automation.seeding.loader import load_seed

    seed_file = seed_path or LAB_SEED
    seed = load_seed(seed_file)  # a bad seed is refused before anything is deleted
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    runs = recorded_runs(workspace)
    recorded: set[int] = set()
    for run_id in runs:
        record = load_record(workspace, run_id)
        if record is not None:
            recorded |= set(record.ticket_ids.values())
    tickets = find_every_run_ticket(instance, recorded)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"lab reset would delete {len(tickets)} ticket(s) of {len(runs)} recorded "
                                   "run(s) and re-apply the seed; standard input is not a terminal, so confirm "
                                   "with --yes")
        click.confirm(f"Delete {len(tickets)} ticket(s) left by runs from osTicket at {instance.base_url} and "
                      f"re-apply {seed_file}? This cannot be undone", abort=True, err=True)
    deleted = purge_every_run(instance, recorded)
    for run_id in runs:
        forget(workspace, run_id)
    progress(f"deleted {len(deleted)} ticket(s) and {len(runs)} run record(s)")
    plan = apply_seed(instance, seed, workspace.credentials_file)
    out.print(f"lab reset: {len(deleted)} ticket(s) deleted, {seed_file.name} re-applied ({plan.create} created, "
              f"{plan.update} updated, {plan.unchanged} unchanged); other tickets are untouched")
