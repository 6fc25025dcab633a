"""The ``ostops`` command line. Errors map to exit codes here and only here:
0 success · 1 the remote side or the environment failed · 2 bad input (nothing was written)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import BinaryIO

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automation.errors import LoadError, OsTicketError, ScenarioError, SeedError, VerificationError
from automation.instance import Instance, default_instance_path, local_dir_from_environment
from automation.outputs import check_writable, write_text

# Piped output (CI logs) gets room for the report tables instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)

instance_option = click.option(
    "--instance", "instance_path", type=click.Path(path_type=Path), default=None,
    help="Instance file (default: $OSTOPS_INSTANCE or ~/.local/state/ostops/local/instance.json).",
)


def load_instance(path: Path | None) -> Instance:
    return Instance.load(path or default_instance_path())


def running_instance(path: Path | None) -> Instance:
    """The instance, for commands that need its servers: a stopped local one is named, with how to start it."""
    from automation.errors import LocalInstanceError
    from automation.local.manager import running_services

    instance = load_instance(path)
    if instance.local is not None:
        stopped = [name for name, alive in running_services(instance).items() if not alive]
        if stopped:
            raise LocalInstanceError(f"the local osTicket of {path or default_instance_path()} is not running "
                                     f"({', '.join(stopped)} stopped); start it with "
                                     f"`ostops local up --dir {instance.local.dir}`")
    return instance


def progress(message: str) -> None:
    console.print(f"[dim]·[/dim] {escape(message)}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ostops")
def cli() -> None:
    """Run osTicket as code: a local instance or Azure, seeding, the ticket lifecycle, verification."""


@cli.group()
def local() -> None:
    """A real osTicket on 127.0.0.1 (MariaDB, php-fpm, nginx as plain processes)."""


dir_option = click.option("--dir", "base", type=click.Path(path_type=Path), default=None,
                          help="Instance folder (default: the folder of $OSTOPS_INSTANCE, else "
                               "~/.local/state/ostops/local).")


@local.command("up")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="osTicket release zip, its upload/ folder, or a source tree.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default 8080 if free).")
@dir_option
@click.option("--fresh", is_flag=True, help="Remove the instance in --dir and build a new one.")
def local_up(source: Path | None, port: int | None, base: Path | None, fresh: bool) -> None:
    """Bring up osTicket locally (a no-op when it is already running)."""
    from automation.local import manager

    result = manager.up(base or local_dir_from_environment(), source, port, fresh, progress)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    inst = result.instance
    state = "already running" if result.already_running else "restarted" if result.restarted else "ready"
    out.print(f"osTicket {inst.osticket_version} {state} at {inst.base_url} (staff panel {inst.base_url}scp/) "
              f"in {result.seconds:.1f} s")
    assert inst.local is not None
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
@instance_option
def local_status(instance_path: Path | None) -> None:
    """Health: processes, HTTP 200 on /, osTicket's tables, the API key active in osTicket."""
    from automation.local import manager

    health = manager.status(load_instance(instance_path))
    table = Table("check", "ok", "detail")
    for name, (ok, detail) in health.checks.items():
        table.add_row(name, "[green]yes[/green]" if ok else "[red]no[/red]", escape(detail))
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
        click.echo(line)


@cli.command("run")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option("--seed", "with_seed", is_flag=True, help="Apply the seed file the scenario names first.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), default=None, help="Write JUnit XML here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the run as JSON here.")
@instance_option
def run_command(scenario_file: Path, with_seed: bool, junit_path: Path | None, json_path: Path | None,
                instance_path: Path | None) -> None:
    """Act a scenario out on osTicket, then verify every expectation in its database."""
    import json

    from automation.errors import ScenarioStepFailed
    from automation.scenarios.junit import write_junit, write_junit_error
    from automation.scenarios.loader import load_scenario
    from automation.scenarios.runner import RunResult, ScenarioRunner

    def write_outputs(result: RunResult) -> None:
        if junit_path:
            write_junit(result, junit_path, loaded.scenario.name)
        if json_path:
            write_text(json_path, json.dumps(result.to_json(), indent=2, default=str) + "\n", "--json")

    loaded = load_scenario(scenario_file)
    for option, output in (("--junit", junit_path), ("--json", json_path)):
        if output is not None:
            check_writable(output, option)
    path = instance_path or default_instance_path()
    with ScenarioRunner(running_instance(path), path, progress=progress) as runner:
        try:
            result: RunResult = runner.run(loaded, seed=with_seed)
        except ScenarioStepFailed as exc:
            if exc.done:
                console.print("steps done before the failure:")
                for line in exc.done:
                    console.print(f"  ✓ {escape(line)}")
            if isinstance(exc.result, RunResult):
                write_outputs(exc.result)
            raise
        except OsTicketError as exc:  # before the first step: no run to record, but CI must see why
            if junit_path:
                write_junit_error(junit_path, loaded.scenario.name, str(exc))
            if json_path:
                write_text(json_path, json.dumps({"passed": False, "error": str(exc)}, indent=2) + "\n", "--json")
            raise
    write_outputs(result)
    _print_verdict(result.verdict, result.run_id, result.seconds)


def _print_verdict(verdict: object, run_id: str, seconds: float | None = None) -> None:
    from automation.scenarios.verify import Verdict

    assert isinstance(verdict, Verdict)
    table = Table("ticket", "number", "verified")
    for ticket in verdict.tickets:
        table.add_row(ticket.key, f"#{ticket.number}" if ticket.number else "-",
                      "[green]yes[/green]" if ticket.passed else f"[red]no[/red] ({len(ticket.mismatches)})")
    table.add_row("final review", "", "[green]yes[/green]" if not verdict.review else "[red]no[/red]")
    out.print(table)
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    if not verdict.passed:
        raise VerificationError(f"run {run_id}: {len(verdict.mismatches())} expectation(s) not met{timing}",
                                verdict.mismatches())
    out.print(f"run {run_id}: every expectation holds in osTicket's database{timing}")


@cli.command("verify")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option("--run", "run_id", required=True, help="The run id `ostops run` printed.")
@instance_option
def verify_command(scenario_file: Path, run_id: str, instance_path: Path | None) -> None:
    """Re-verify a past run of a scenario against osTicket's database."""
    from automation.errors import ConfigError
    from automation.scenarios.facts import read_run
    from automation.scenarios.loader import load_scenario
    from automation.scenarios.runner import ScenarioRunner, unknown_run

    loaded = load_scenario(scenario_file)
    path = instance_path or default_instance_path()
    instance = running_instance(path)
    with ScenarioRunner(instance, path) as runner:
        verdict = runner.verify(loaded, run_id)
        # No ticket of the scenario found: an unknown run id is bad input; a known run of other tickets is
        # a verification failure (the wrong scenario file, or keys renamed since the run).
        if not any(ticket.number for ticket in verdict.tickets) and not read_run(runner.conn, runner.tables, run_id):
            raise ConfigError(unknown_run(run_id, instance, path))
    _print_verdict(verdict, run_id)


@cli.command("report")
@click.option("--run", "run_id", default=None, help="Run id (default: the latest run on this instance).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to this file instead of stdout.")
@instance_option
def report_command(run_id: str | None, fmt: str, output: Path | None, instance_path: Path | None) -> None:
    """The final review: tickets by status, SLA met or breached, response and resolution times."""
    import json

    from automation.errors import ConfigError
    from automation.osticket import db
    from automation.scenarios.facts import read_run
    from automation.scenarios.report import build_report, render_html
    from automation.scenarios.runner import latest_run_id, unknown_run

    if output is not None:
        check_writable(output, "--output")
    path = instance_path or default_instance_path()
    instance = running_instance(path)
    run_id = run_id or latest_run_id(path)
    if run_id is None:
        raise ConfigError(f"{path.parent / 'runs'}: no runs recorded; pass --run RUN_ID or run a scenario first")
    conn = db.connect(instance)
    try:
        facts = read_run(conn, db.Tables(instance.db.table_prefix), run_id)
        now = db.server_now(conn)
    finally:
        conn.close()
    if not facts:
        raise ConfigError(unknown_run(run_id, instance, path))
    report = build_report(run_id, facts, now)
    if fmt == "json":
        text = json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    elif fmt == "html":
        text = render_html(report)
    else:
        if output is None:
            _print_report(report, out)
            return
        rendered = io.StringIO()
        _print_report(report, Console(file=rendered, width=160, highlight=False, soft_wrap=True))
        text = rendered.getvalue()
    if output:
        write_text(output, text, "--output")
        out.print(f"wrote {escape(str(output))}")
    else:
        click.echo(text, nl=False)


def _print_report(report: object, target: Console) -> None:
    from automation.scenarios.report import Report, human_duration

    assert isinstance(report, Report)
    tickets = Table("ticket", "number", "status", "SLA", "agent", "team", "SLA outcome", "1st response",
                    "resolution", title=f"Final review - run {report.run_id}")
    for t in report.tickets:
        color = {"met": "green", "breached": "red"}.get(t.sla_state, "yellow")
        tickets.add_row(t.key, f"#{t.number}", escape(t.status), escape(t.sla or "-"), escape(t.agent or "-"),
                        escape(t.team or "-"),
                        f"[{color}]{t.sla_state}[/{color}]", human_duration(t.first_response_s),
                        human_duration(t.resolution_s))
    target.print(tickets)
    for title, groups in (("By agent", report.by_agent), ("By team", report.by_team)):
        table = Table("name", "tickets", "resolved", "SLA met", "SLA breached", "avg 1st response",
                      "avg resolution", title=title)
        for group in groups:
            d = group.to_dict()
            table.add_row(escape(d["name"]), str(d["tickets"]), str(d["resolved"]), str(d["sla_met"]),
                          str(d["sla_breached"]), human_duration(d["avg_first_response_s"]),
                          human_duration(d["avg_resolution_s"]))
        target.print(table)
    status = ", ".join(f"{name}: {count}" for name, count in report.by_status.items())
    verdict = "nothing left open" if report.open_count == 0 else f"{report.open_count} still open"
    target.print(f"tickets by status - {escape(status)}; {verdict}")


@cli.command("load")
@click.option("--tickets", "count", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--scenario", "scenario_file", type=click.Path(path_type=Path), default=None,
              help="Also act this scenario's steps out on a sample of the tickets.")
@click.option("--sample", type=click.IntRange(0), default=None,
              help="How many tickets get the scenario's steps (with --scenario; default 10, at most --tickets).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@instance_option
def load_command(count: int, concurrency: int, scenario_file: Path | None, sample: int | None, as_json: bool,
                 instance_path: Path | None) -> None:
    """Create N tickets through the ticket API, C at a time, verifying them in the database as they are created."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from automation.load import run_load
    from automation.scenarios.loader import load_scenario

    if sample is not None and scenario_file is None:
        raise click.UsageError("--sample needs --scenario: it says how many tickets get the scenario's steps")
    if sample is not None and sample > count:
        raise click.UsageError(f"--sample {sample} is more than --tickets {count}")
    sample = min(10, count) if sample is None else sample
    loaded = load_scenario(scenario_file) if scenario_file else None
    path = instance_path or default_instance_path()
    instance = running_instance(path)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=as_json) as bar:
        task = bar.add_task("creating tickets", total=count)
        result = run_load(instance, count, concurrency, on_done=lambda: bar.advance(task), scenario=loaded,
                          sample=sample if loaded else 0, instance_path=path)
    summary = result.to_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        table = Table("run", "created", "tickets/s", "p50 ms", "p95 ms", "p99 ms", "errors", "verified",
                      "verdict ms after", "scenario steps on")
        lat = summary["latency_ms"]
        errors = ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or "none"
        table.add_row(result.run_id, f"{summary['created']}/{count}", f"{result.throughput:.1f}",
                      str(lat["p50"]), str(lat["p95"]), str(lat["p99"]), errors, f"{result.verified}/{count}",
                      f"{result.verification.seconds_after_run * 1000:.1f}",
                      str(result.acted))
        out.print(table)
    if result.mismatches:
        raise VerificationError(f"load run {result.run_id}: {result.verified}/{count} verified",
                                result.mismatches[:20])
    if result.errors or result.verification.error or result.verified != count:
        problems = [f"{kind} ({n}): {result.error_samples.get(kind, '')}" for kind, n in result.errors.items()]
        if result.verification.error:
            problems.append(f"verification could not finish: {result.verification.error}")
        raise LoadError(f"load run {result.run_id}: {sum(result.errors.values())} of {count} request(s) failed, "
                        f"{result.verified}/{count} verified", problems)


@cli.group("instance")
def instance_group() -> None:
    """Instance files: where an osTicket is and how to reach it."""


@instance_group.command("from-stack")
@click.argument("outputs", type=click.File("rb"), default="-")
@click.option("--instance", "instance_path", type=click.Path(path_type=Path), default=None,
              help="Where to write (default: ~/.local/state/ostops/azure/instance.json).")
@click.option("--db-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM certificate the database server must present (the VM's C:\\MariaDB\\data\\"
                   "ostops-server-cert.pem); without it the connection is encrypted but unauthenticated.")
def instance_from_stack(outputs: BinaryIO, instance_path: Path | None, db_ca: Path | None) -> None:
    """Write the instance file for a Pulumi-deployed osTicket from `pulumi stack output --json --show-secrets`
    (a file, or standard input)."""
    from automation.instance import default_azure_instance_path
    from automation.stack import instance_from_outputs

    source = "standard input" if outputs.name == "<stdin>" else outputs.name
    instance = instance_from_outputs(outputs.read(), source, str(db_ca.resolve()) if db_ca else None)
    path = instance_path or default_azure_instance_path()
    instance.save(path)
    out.print(f"wrote {escape(str(path))} (mode 0600) for {escape(instance.base_url)}")
    out.print(f"use it with: export OSTOPS_INSTANCE={escape(str(path))}")
    if db_ca is None:
        console.print("[yellow]warning:[/yellow] the database connection is encrypted but the server is not "
                      "authenticated; pass --db-ca with the VM's MariaDB certificate to pin it")


def _register_commands() -> None:
    from automation.manifest_cli import manifest_group
    from automation.seeding.cli import seed_command

    cli.add_command(manifest_group)
    cli.add_command(seed_command)


_register_commands()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except (SeedError, ScenarioError, LoadError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        for problem in exc.problems:
            if problem != str(exc):
                console.print(f"  {escape(problem)}")
        sys.exit(exc.exit_code)
    except VerificationError as exc:
        console.print(f"[red]verification failed:[/red] {escape(str(exc))}")
        for mismatch in exc.mismatches:
            console.print(f"  {escape(mismatch)}")
        sys.exit(exc.exit_code)
    except OsTicketError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
