"""``ostops load``: bulk tickets through the ticket API, verified in the database as they are created."""

from __future__ import annotations

from pathlib import Path

import click

from automation.cli.common import console, escape, instance_option, out, print_json, running_instance
from automation.errors import LoadError, VerificationError
from automation.workspace import Workspace


@click.command("load")
@click.option("--tickets", "count", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Locust users sending at once (across all workers).")
@click.option("--workers", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Locust worker processes on this machine (a master and N workers over 127.0.0.1); "
                   "0: one local runner.")
@click.option("--scenario", "scenario_file", type=click.Path(path_type=Path), default=None,
              help="Also act this scenario's steps out on a sample of the tickets.")
@click.option("--sample", type=click.IntRange(0), default=None,
              help="How many tickets get the scenario's steps (with --scenario; default 10, at most --tickets).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@instance_option
def load_command(count: int, concurrency: int, workers: int, scenario_file: Path | None, sample: int | None, as_json: bool,
                 instance_path: Path | None) -> None:
    """Create N tickets through the ticket API, C at a time on Locust, verifying them in the database as they are
    created."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from automation.load.run import run_load
    from automation.scenarios.loader import load_scenario

    if workers > concurrency:
        raise click.UsageError(f"--workers {workers} is more than --concurrency {concurrency}: each worker runs "
                               "at least one user")
    if sample is not None and scenario_file is None:
        raise click.UsageError("--sample needs --scenario: it says how many tickets get the scenario's steps")
    if sample is not None and sample > count:
        raise click.UsageError(f"--sample {sample} is more than --tickets {count}")
    sample = min(10, count) if sample is None else sample
    loaded = load_scenario(scenario_file) if scenario_file else None
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=as_json) as bar:
        task = bar.add_task("creating tickets", total=count)
        result = run_load(instance, count, concurrency, on_done=lambda: bar.advance(task), scenario=loaded,
                          sample=sample if loaded else 0, workspace=workspace,
                          workers=workers)
    summary = result.to_dict()
    if as_json:
        print_json("load", result.passed, **summary)
    else:
        from rich.table import Table

        table = Table("run", "created", "tickets/s", "p50 ms", "p95 ms", "p99 ms", "errors", "verified",
                      "verdict ms after", "scenario steps on")
        lat = summary["latency_ms"]
        errors = ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or "none"
        table.add_row(result.run_id, f"{summary['created']}/{count}", f"{result.throughput:.1f}",
                      str(lat["p50"]), str(lat["p95"]), str(lat["p99"]), errors, f"{result.verified}/{count}",
                      f"{result.verification.seconds_after_run * 1000:.1f}",
                      str(result.acted))
        out.print(table)
        for line in result.unconfirmed:
            console.print(f"[red]{escape(line)}[/red]")
    if result.mismatches:
        raise VerificationError(f"load run {result.run_id}: {result.verified}/{count} verified",
                                result.mismatches[:20])
    if result.errors or result.verification.error or result.verified != count or result.unconfirmed:
        problems = [f"{kind} ({n}): {result.error_samples.get(kind, '')}" for kind, n in result.errors.items()]
        problems += result.unconfirmed
        if result.verification.error:
            problems.append(f"verification could not finish: {result.verification.error}")
        raise LoadError(f"load run {result.run_id}: {sum(result.errors.values())} of {count} request(s) failed, "
                        f"{result.verified}/{count} verified", problems)
