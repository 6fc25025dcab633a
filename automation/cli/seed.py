"""``ostops seed FILE [--plan [--detailed-exitcode]] [--json] [-v] [--lock-wait SECONDS]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from automation.cli.common import Outcome, instance_option, json_document, out, running_instance
from automation.workspace import Workspace

if TYPE_CHECKING:
    from automation.seeding.plan import Plan


@click.command("seed")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change; write nothing.")
@click.option("--detailed-exitcode", is_flag=True,
              help="With --plan: exit 3 when changes are pending, 0 when there is nothing to change.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--verbose", "-v", is_flag=True, help="List unchanged entities too.")
@click.option("--lock-wait", type=click.FloatRange(0, 600), default=30, show_default=True, metavar="SECONDS",
              help="How long to wait for another seed of this help desk to finish (seeds run one at a time).")
@instance_option
def seed_command(file: Path, plan_only: bool, detailed_exitcode: bool, as_json: bool, verbose: bool,
                 lock_wait: float, instance_path: Path | None) -> Outcome | None:
    """Make osTicket's configuration match FILE (SLAs, departments, agents, teams, topics, API keys, users).

    Validates everything first (exit 2, nothing written), then applies in one transaction, one seed of a help
    desk at a time (a MariaDB lock; another seed's is waited for up to --lock-wait seconds).
    """
    from automation.seeding.apply import apply_seed, plan_against
    from automation.seeding.loader import load_seed

    if detailed_exitcode and not plan_only:
        raise click.UsageError("--detailed-exitcode needs --plan: it reports whether a plan has changes")
    seed = load_seed(file)
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    if plan_only:
        plan = plan_against(instance, seed, workspace.credentials_file)
    else:
        plan = apply_seed(instance, seed, workspace.credentials_file, lock_wait)
    _report(plan, plan_only, as_json, verbose)
    if detailed_exitcode and plan.create + plan.update:
        return Outcome.CHANGES_PENDING
    return None


def _report(plan: Plan, plan_only: bool, as_json: bool, verbose: bool) -> None:
    if as_json:
        data = json_document("seed", True, **plan.to_json(), applied=not plan_only)
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for line in plan.lines(verbose):
        out.print(line, markup=False, highlight=False)
    if plan_only:
        out.print(f"plan: {plan.summary()} (nothing written)")
    elif not plan.create + plan.update:
        out.print(f"already applied: nothing to change, {plan.unchanged} unchanged ({plan.seconds:.2f} s)")
    else:
        out.print(f"applied: {plan.create} created, {plan.update} updated, {plan.unchanged} unchanged "
                  f"in {plan.seconds:.2f} s")
