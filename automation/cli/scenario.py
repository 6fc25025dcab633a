"""``ostops run | verify | report``: act a scenario out, verify a run, the final review."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from automation.cli.common import (
    STDOUT,
    check_writable,
    console,
    escape,
    instance_option,
    is_stdout,
    json_document,
    out,
    print_json,
    progress,
    running_instance,
    warn,
    write_text,
)
from automation.errors import ConfigError, OsTicketError, VerificationError
from automation.workspace import Workspace

WIDE_COLUMNS = 120  # `ostops report`'s full ticket table needs about this many; below it the narrow one is printed

if TYPE_CHECKING:
    from rich.console import Console

    from automation.instance import Instance
    from automation.scenarios.evidence import Evidence
    from automation.scenarios.record import RunResult
    from automation.scenarios.report import Report
    from automation.scenarios.verify import Verdict


@click.command("run")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option("--seed", "with_seed", is_flag=True, help="Apply the seed file the scenario names first.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), default=None, help="Write JUnit XML here (- for standard output).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on standard output (the tables go to standard error).")
@click.option("--json-file", "json_path", type=click.Path(path_type=Path), default=None, help="Write the run as JSON to this file (- for standard output, as --json).")
@click.option("--evidence", "evidence_dir", type=click.Path(path_type=Path), default=None,
              help="Picture each step in a headless Chromium and write the write-up (README.md, index.html) into this folder.")
@click.option("--require-mail", is_flag=True,
              help="Fail expect.mail where no mail is captured (default: reported as skipped, with the reason).")
@click.option("--only", "only", multiple=True, metavar="KEY[,KEY]",
              help="Act out only the tickets of these keys (the final review counts only them).")
@click.option("--keep-going/--stop-on-failure", "keep_going", default=True, show_default=True,
              help="A step osTicket refuses fails its ticket (its later steps are skipped) and the run goes on with "
                   "the next ticket, then verifies; or the run stops there. osTicket or the environment failing "
                   "stops it either way.")
@instance_option
def run_command(scenario_file: Path, with_seed: bool, junit_path: Path | None, as_json: bool,
                json_path: Path | None, evidence_dir: Path | None, require_mail: bool, only: tuple[str, ...],
                keep_going: bool, instance_path: Path | None) -> None:
    """Act a scenario out on osTicket, then verify every expectation in its database."""
    from automation.errors import EvidenceError, Interrupted, ScenarioError, ScenarioStepFailed
    from automation.interrupt import Interruptions
    from automation.scenarios import evidence as run_evidence
    from automation.scenarios.junit import junit_error_xml, junit_xml
    from automation.scenarios.loader import load_scenario
    from automation.scenarios.record import RunResult
    from automation.scenarios.runner import ScenarioRunner

    def write_outputs(result: RunResult) -> None:
        if junit_path:
            write_text(junit_path, junit_xml(result, loaded), "--junit")
        if json_path:
            document = json_document("run", result.passed, **result.to_json())
            write_text(json_path, json.dumps(document, indent=2, default=str) + "\n", "--json-file")

    if as_json and json_path is not None:
        raise click.UsageError("--json prints the run on standard output and --json-file writes it to a file; "
                               "give one")
    json_path = STDOUT if as_json else json_path
    loaded = load_scenario(scenario_file)
    if only:
        from automation.scenarios.loader import select_tickets

        loaded = select_tickets(loaded, [k.strip() for part in only for k in part.split(",") if k.strip()])
    for option, output in (("--junit", junit_path), ("--json-file", json_path)):
        if output is not None:
            check_writable(output, option)
    if junit_path is not None and json_path is not None and is_stdout(junit_path) and is_stdout(json_path):
        raise click.UsageError("--junit - and --json would both go to standard output; send one to a file")
    if evidence_dir is not None:  # all of it before osTicket is touched: exit 2, nothing created
        evidence_dir = run_evidence.check_folder(evidence_dir)
        run_evidence.check()
    # With a file on standard output, the verdict table goes to standard error.
    tables = console if any(p is not None and is_stdout(p) for p in (junit_path, json_path)) else out
    workspace = Workspace.at(instance_path)
    evidence: Evidence | None = None
    runner: ScenarioRunner | None = None

    def agent_password(username: str) -> str | None:  # the runner's one lookup, once it exists
        return runner.password(username) if runner is not None else None

    interruptions = Interruptions()
    # SIGINT and SIGTERM: the request in flight is answered, then the record, --json and --junit are written.
    with interruptions.installed():
        try:
            instance = running_instance(workspace)
            if evidence_dir is not None:
                evidence = run_evidence.Evidence.start(evidence_dir, instance.base_url, agent_password,
                                                       loaded.scenario, str(scenario_file))
            seed_summary = None
            if with_seed:
                seed_path = loaded.seed_path()
                if seed_path is None:
                    raise ScenarioError(f"{loaded.located.where(('seed',))}: --seed given but the scenario names "
                                        "no seed file")
                from automation.scenarios.preflight import check_before_seed
                from automation.seeding.loader import load_seed

                seed_file = load_seed(seed_path)
                check_before_seed(instance, loaded, seed_file, workspace.credentials())  # nothing is written when the run cannot start
                seed_summary = _seed(instance, seed_path, workspace, seed_file)
            with ScenarioRunner(instance, workspace, progress=progress, observer=evidence,
                                require_mail=require_mail, interruptions=interruptions,
                                keep_going=keep_going) as runner:
                try:
                    result: RunResult = runner.run(loaded, seed_summary=seed_summary)
                except ScenarioStepFailed as exc:
                    if exc.done:
                        console.print("steps done before the failure:")
                        for line in exc.done:
                            console.print(f"  ✓ {escape(line)}")
                    if isinstance(exc.result, RunResult):
                        write_outputs(exc.result)
                    if evidence is not None:
                        try:
                            _finish_evidence(evidence, None, None, str(exc))
                        except EvidenceError as problem:  # the step's failure is the one to report
                            warn(str(problem))
                    raise
        except ScenarioStepFailed:
            if evidence is not None:
                evidence.close()
            raise
        except (OsTicketError, Interrupted) as exc:
            if evidence is not None:
                evidence.close()
            stopped = exc.result if isinstance(exc.result, RunResult) and exc.result.id_range else None
            if isinstance(exc, Interrupted):
                _print_interrupted(exc, stopped, scenario_file)
            if stopped is not None:  # the run had begun: its record, and the files, say how far it got
                write_outputs(stopped)
                raise
            # Before the first ticket: no run to record, but CI must see why.
            if junit_path:
                write_text(junit_path, junit_error_xml(loaded.scenario.name, str(exc)), "--junit")
            if json_path:
                document = json_document("run", False, passed=False, error=str(exc),
                                         interrupted=isinstance(exc, Interrupted),
                                         signal=exc.name if isinstance(exc, Interrupted) else None)
                write_text(json_path, json.dumps(document, indent=2) + "\n", "--json-file")
            raise
        write_outputs(result)
        evidence_problem = None
        if evidence is not None:
            try:
                _finish_evidence(evidence, instance, result)
            except EvidenceError as problem:  # told after the verdict, which comes first
                evidence_problem = problem
            finally:
                evidence.close()
        try:
            _print_verdict(result.verdict, result.run_id, result.seconds, tables)
        except VerificationError:
            if evidence_problem is not None:
                warn(str(evidence_problem))
            raise
        if evidence_problem is not None:
            raise evidence_problem


def _print_interrupted(exc: BaseException, result: RunResult | None, scenario_file: Path) -> None:
    """Every ticket of an interrupted run with its state, and the commands that read the run later."""
    if result is None:
        console.print(f"{escape(str(exc))} before the first ticket: nothing was created")
        return
    console.print(f"run {result.run_id} {escape(str(exc))}:")
    for state in result.ticket_states():
        console.print(f"  {escape(state.line())}")
    for line in result.unconfirmed:
        console.print(f"  {escape(line)}")
    console.print(f"  recorded: `ostops report --run {result.run_id}`, "
                  f"`ostops verify {escape(str(scenario_file))} --run {result.run_id}`")


def _finish_evidence(evidence: Evidence, instance: Instance | None, result: RunResult | None,
                     error: str = "") -> None:
    """The Closed queue, the final review and the write-up of a run's evidence (the run stopped at a step
    when ``error`` says why)."""
    from automation.scenarios.report import read_report

    if instance is None or result is None or result.verdict is None:
        folder = evidence.finish(report=None, passed=None, verification=[], error=error)
    else:
        from automation.scenarios.mail import mailbox_of

        report = read_report(instance, result.run_id, order=list(result.tickets))
        folder = evidence.finish(report=report, passed=result.verdict.passed,
                                 verification=result.verdict.mismatches(), seconds=result.seconds,
                                 verdict=result.verdict, mailbox=mailbox_of(instance))
    pdf = f", {folder / 'evidence.pdf'}" if evidence.writeup.pdf else ""
    progress(f"evidence: {len(evidence.writeup.shots())} picture(s), the write-up in {folder / 'README.md'} "
             f"and {folder / 'index.html'}{pdf}")


def _seed(instance: object, seed_path: Path, workspace: Workspace, seed_file: object) -> dict[str, int]:
    from automation.instance import Instance
    from automation.seeding.apply import apply_seed
    from automation.seeding.models import SeedFile

    assert isinstance(instance, Instance)
    assert isinstance(seed_file, SeedFile)
    plan = apply_seed(instance, seed_file, workspace.credentials_file)
    summary = {"create": plan.create, "update": plan.update, "unchanged": plan.unchanged}
    progress(f"seeded {seed_path.name}: {summary['create']} created, {summary['update']} updated, "
             f"{summary['unchanged']} unchanged")
    return summary


def _print_verdict(verdict: Verdict | None, run_id: str, seconds: float | None = None,
                   target: Console = out) -> None:
    from rich.table import Table

    assert verdict is not None
    table = Table("ticket", "number", "verified")
    for ticket in verdict.tickets:
        table.add_row(ticket.key, f"#{ticket.number}" if ticket.number else "-",
                      "[green]yes[/green]" if ticket.passed else "[red]no[/red] (failed at a step)" if ticket.failed
                      else f"[red]no[/red] ({len(ticket.mismatches)})")
    table.add_row("final review", "", "[green]yes[/green]" if not verdict.review else "[red]no[/red]")
    target.print(table)
    for line in verdict.skipped():
        target.print(f"[yellow]skipped[/yellow] {escape(line)}")
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    if not verdict.passed:
        failed = sum(1 for t in verdict.tickets if t.failed)
        unmet = len(verdict.mismatches()) - failed
        said = ", ".join(part for part in (f"{failed} ticket(s) failed at a step" if failed else "",
                                           f"{unmet} expectation(s) not met" if unmet or not failed else "") if part)
        raise VerificationError(f"run {run_id}: {said}{timing}", verdict.mismatches())
    target.print(f"run {run_id}: every expectation holds in osTicket's database{timing}")


@click.command("verify")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option("--run", "run_id", default=None,
              help="The run id `ostops run` printed (default: the latest recorded run of this scenario).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--require-mail", is_flag=True,
              help="Fail expect.mail where no mail is captured (default: reported as skipped, with the reason).")
@instance_option
def verify_command(scenario_file: Path, run_id: str | None, as_json: bool, require_mail: bool,
                   instance_path: Path | None) -> None:
    """Re-verify a past run of a scenario against osTicket's database."""
    from automation.scenarios.loader import load_scenario
    from automation.scenarios.mail import mailbox_of
    from automation.scenarios.record import latest_run_of, load_record, unknown_run
    from automation.scenarios.verify import verify_past_run

    loaded = load_scenario(scenario_file)
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    run_id = run_id or latest_run_of(workspace, loaded.path)
    if run_id is None:
        raise ConfigError(f"{workspace.runs_dir}: no run of {scenario_file} recorded; "
                          "pass --run RUN_ID (see `ostops runs`) or run it first")
    record = load_record(workspace, run_id)
    if record is not None and record.of_another_scenario(loaded.path):
        raise ConfigError(f"run {run_id} acted out {record.scenario}, not {scenario_file}: verify it with "
                          f"`ostops verify {record.scenario} --run {run_id}`, or give a run of {scenario_file} "
                          "(see `ostops runs`)")
    if record is not None and record.planned and set(record.planned) < {t.key for t in loaded.scenario.tickets}:
        from automation.scenarios.loader import select_tickets

        loaded = select_tickets(loaded, list(record.planned))  # a run made with --only
    if record is None:
        verdict = verify_past_run(instance, loaded.scenario, run_id, mailbox=mailbox_of(instance, require_mail))
    else:
        verdict = verify_past_run(instance, loaded.scenario, run_id, record.id_range,
                                  sorted(record.ticket_ids.values()), record.ledger, mailbox_of(instance, require_mail),
                                  record.failed)
    # No ticket of this run at all: an unknown run id is bad input; a known run of other tickets is a
    # verification failure (the wrong scenario file, or keys renamed since the run).
    if verdict is None:
        raise ConfigError(unknown_run(run_id, instance.base_url, workspace))
    if as_json:
        print_json("verify", verdict.passed, run_id=run_id, passed=verdict.passed,
                   tickets=[t.to_dict() for t in verdict.tickets],
                   review=verdict.review, mismatches=verdict.mismatches(), skipped=verdict.skipped())
        if not verdict.passed:
            raise VerificationError(f"run {run_id}: {len(verdict.mismatches())} expectation(s) not met")
        return
    _print_verdict(verdict, run_id)


@click.command("report")
@click.option("--run", "run_id", default=None, help="Run id (default: the latest run on this instance).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to this file (- for standard output, the default).")
@click.option("--wide", is_flag=True,
              help=f"Every column of the table, however narrow the terminal (below {WIDE_COLUMNS} columns the "
                   "team, the due time and the first response are left out).")
@instance_option
def report_command(run_id: str | None, fmt: str, as_json: bool, output: Path | None, wide: bool,
                   instance_path: Path | None) -> None:
    """The final review: tickets by status, SLA met or breached, response and resolution times."""
    from automation.scenarios.record import latest_run_id, load_record, unknown_run
    from automation.scenarios.report import read_report
    from automation.scenarios.review_html import render_html

    if as_json and fmt not in ("table", "json"):
        raise click.UsageError(f"--json and --format {fmt} contradict each other; give one")
    fmt = "json" if as_json else fmt
    if output is not None:
        check_writable(output, "--output")
    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    run_id = run_id or latest_run_id(workspace)
    if run_id is None:
        raise ConfigError(f"{workspace.runs_dir}: no runs recorded; pass --run RUN_ID or run a scenario first")
    record = load_record(workspace, run_id)
    report = read_report(instance, run_id, record.id_range if record else None,
                         sorted(record.ticket_ids.values()) if record else (), list(record.ticket_ids) if record else (),
                         set(record.ticket_numbers.values()) if record else None)
    if report is None:
        raise ConfigError(unknown_run(run_id, instance.base_url, workspace))
    if fmt == "json":
        text = json.dumps(json_document("report", True, **report.to_dict()), indent=2, default=str) + "\n"
    elif fmt == "html":
        text = render_html(report)
    else:
        if output is None:
            _print_report(report, out, wide)
            return
        rendered = io.StringIO()
        from rich.console import Console

        _print_report(report, Console(file=rendered, width=160, highlight=False, soft_wrap=True))
        text = rendered.getvalue()
    if output:
        write_text(output, text, "--output")
        if not is_stdout(output):
            out.print(f"wrote {escape(str(output))}")
    else:
        click.echo(text, nl=False)


def _print_report(report: Report, target: Console, wide: bool = True) -> None:
    """The review as tables. ``wide``: every column; else, in a terminal narrower than `WIDE_COLUMNS`, the
    tickets without team, due time and first response (the groups' tables keep every figure, with short
    headers) and a line saying so. Text is wrapped to the terminal's width."""
    from rich.table import Table
    from rich.text import Text

    from automation.scenarios import palette
    from automation.scenarios.report import human_duration

    narrow = not wide and target.width < WIDE_COLUMNS
    statuses = palette.colours(palette.STATUS, (t.status for t in report.tickets))
    outcomes = palette.colours(palette.SLA_OUTCOME, (t.sla_state for t in report.tickets))
    title = f"Final review - run {report.run_id}"
    if narrow:
        tickets = Table("ticket", "number", "status", "SLA", "agent", "SLA outcome", "resolution", title=title)
    else:
        tickets = Table("ticket", "number", "status", "SLA", "agent", "team", f"due ({report.zone.label})",
                        "SLA outcome", "1st response", "resolution", title=title)
    for t in report.tickets:
        status_cell = Text(t.status, style=statuses[t.status].rich)
        outcome_cell = Text(t.sla_state, style=outcomes[t.sla_state].rich)
        if narrow:
            tickets.add_row(Text(t.label, overflow="fold"), f"#{t.number}", status_cell, escape(t.sla or "-"),
                            escape(t.agent or "-"), outcome_cell, human_duration(t.resolution_s))
        else:
            tickets.add_row(escape(t.label), f"#{t.number}", status_cell, escape(t.sla or "-"),
                            escape(t.agent or "-"), escape(t.team or "-"), t.due or "-", outcome_cell,
                            human_duration(t.first_response_s), human_duration(t.resolution_s))
    target.print(tickets)
    target.print(report.zone.sentence(), soft_wrap=False, style="dim")
    headers = (("name", "tickets", "resolved", "met", "breached", "avg 1st", "avg resolution") if narrow else
               ("name", "tickets", "resolved", "SLA met", "SLA breached", "avg 1st response", "avg resolution"))
    for heading, groups in (("By agent", report.by_agent), ("By team", report.by_team)):
        table = Table(*headers, title=heading)
        for group in groups:
            d = group.to_dict()
            table.add_row(escape(d["name"]), str(d["tickets"]), str(d["resolved"]), str(d["sla_met"]),
                          str(d["sla_breached"]), human_duration(d["avg_first_response_s"]),
                          human_duration(d["avg_resolution_s"]))
        target.print(table)
    status = ", ".join(f"{name}: {count}" for name, count in report.by_status.items())
    verdict = "nothing left open" if report.open_count == 0 else f"{report.open_count} still open"
    target.print(f"tickets by status - {escape(status)}; {verdict}", soft_wrap=False)
    if report.unconfirmed:
        target.print(f"{len(report.unconfirmed)} ticket(s) unconfirmed - osTicket holds them, the run was never "
                     "answered for them, so no SLA outcome is given: "
                     + ", ".join(f"#{t.number}" for t in report.unconfirmed), soft_wrap=False)
    if narrow:
        target.print("(team, due time and first response left out to fit the terminal: `ostops report --wide` "
                     "shows them)", soft_wrap=False, style="dim")
