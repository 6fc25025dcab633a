"""``ostops seed FILE [--plan] [--json] [--instance PATH]``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from automation.cli import instance_option, out, running_instance
from automation.instance import default_instance_path
from automation.osticket.db import Tables, connect
from automation.seeding.apply import apply_seed
from automation.seeding.loader import load_seed
from automation.seeding.passwords import CredentialStore, credentials_path
from automation.seeding.plan import Plan, plan_seed


@click.command("seed")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--verbose", "-v", is_flag=True, help="List unchanged entities too.")
@instance_option
def seed_command(file: Path, plan_only: bool, as_json: bool, verbose: bool, instance_path: Path | None) -> None:
    """Make osTicket's configuration match FILE (SLAs, departments, agents, teams, topics, API keys, users).

    Validates everything first (exit 2, nothing written), then applies in one transaction.
    """
    seed = load_seed(file)
    instance = running_instance(instance_path)
    creds = credentials_path(instance_path or default_instance_path())
    if plan_only:
        conn = connect(instance, autocommit=True)
        try:
            plan = plan_seed(conn, Tables(instance.db.table_prefix), seed, CredentialStore(creds))
        finally:
            conn.close()
    else:
        plan = apply_seed(instance, seed, creds)
    _report(plan, plan_only, as_json, verbose)


def _report(plan: Plan, plan_only: bool, as_json: bool, verbose: bool) -> None:
    if as_json:
        data = plan.to_json()
        data["applied"] = not plan_only
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for line in plan.lines(verbose):
        out.print(line, markup=False, highlight=False)
    if plan_only:
        out.print(f"plan: {plan.summary()} (nothing written)")
    else:
        out.print(f"applied: {plan.create} created, {plan.update} updated, {plan.unchanged} unchanged "
                  f"in {plan.seconds:.2f} s")
