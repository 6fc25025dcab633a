"""GitHub Actions' own output, when ``GITHUB_ACTIONS=true``: an ``::error file=…,line=…,title=…::`` annotation
for each failed expectation and each problem of bad input, and the final review as Markdown appended to the
file ``GITHUB_STEP_SUMMARY`` names.

The format and its escaping are GitHub's ("Workflow commands for GitHub Actions", docs.github.com: ``::error
file={name},line={line},title={title}::{message}``; actions/toolkit packages/core/src/command.ts ``escapeData``:
``%`` ``\\r`` ``\\n``, ``escapeProperty``: those and ``:`` ``,``). The annotations go to standard error, which the
runner reads for workflow commands as it reads standard output (actions/runner
src/Runner.Worker/Handlers/ScriptHandler.cs: one OutputManager for each stream), so that ``--json`` and
``--junit -`` keep standard output to their document."""

from __future__ import annotations

import html
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from automation.errors import OsTicketError, UsageError, VerificationError

if TYPE_CHECKING:
    from automation.scenarios.loader import LoadedScenario
    from automation.scenarios.record import RunResult
    from automation.scenarios.report import Report
    from automation.scenarios.verify import Verdict


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_command(message: str, file: str | None = None, line: int | None = None, title: str | None = None) -> str:
    properties = [f"{name}={escape_property(str(value))}"
                  for name, value in (("file", file), ("line", line), ("title", title)) if value is not None]
    return f"::error {','.join(properties)}::{escape_data(message)}" if properties \
        else f"::error::{escape_data(message)}"


# ``lab.yaml:12 tickets[0].expect: …`` or ``lab.yaml:12: …``: a problem that starts with its file and line.
_LOCATED = re.compile(r"(?P<file>[^\n]+?):(?P<line>\d+)(?=[\s:]|$)")


def _repository_path(file: str, environ: Mapping[str, str]) -> str:
    """GitHub places an annotation by the path from the repository's root (the job's ``GITHUB_WORKSPACE``)."""
    root = Path(environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return Path(file).resolve().relative_to(root).as_posix()
    except ValueError:
        return file


def annotation(problem: str, title: str, environ: Mapping[str, str] = os.environ) -> str:
    """One problem as an ``::error``: placed at its file and line when it starts with an existing file's."""
    found = _LOCATED.match(problem)
    if found and Path(found["file"]).is_file():
        return error_command(problem, _repository_path(found["file"], environ), int(found["line"]), title)
    return error_command(problem, title=title)


def _title(exc: OsTicketError) -> str:
    if isinstance(exc, VerificationError):
        return "ostops: expectation not met"
    if isinstance(exc, UsageError):
        return "ostops: bad input"
    return "ostops: error"


def error_annotations(exc: OsTicketError, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every problem of ``exc`` (its message when it has none), as annotations."""
    return [annotation(problem, _title(exc), environ) for problem in (exc.problems or [str(exc)])]


def emit(lines: Iterable[str], stream: TextIO | None = None) -> None:
    target = stream or sys.stderr
    for line in lines:
        print(line, file=target)
    target.flush()


def report_error(exc: OsTicketError, environ: Mapping[str, str] = os.environ, stream: TextIO | None = None) -> None:
    """The CLI's error path: the annotations of ``exc`` when running on GitHub Actions."""
    if enabled(environ):
        emit(error_annotations(exc, environ), stream)


def located_mismatches(loaded: LoadedScenario, verdict: Verdict | None, result: RunResult | None = None) -> list[str]:
    """What a run failed on, each at the scenario's file:line (as its JUnit file gives them): a ticket that failed
    at a step at that step, a ticket's mismatches at its ``expect``, the review's at ``review``; the rest at the
    file."""
    keys = [ticket.key for ticket in loaded.scenario.tickets]
    # A ticket that failed at a step has that failure as its verdict, already at the step's file:line.
    failed = {t.key: t.failed for t in verdict.tickets if t.failed} if verdict is not None else {}
    lines = [f"{step.where}: {step.error}" for step in result.steps
             if step.error and step.ticket not in failed] if result is not None else []
    if verdict is not None:
        for ticket in verdict.tickets:
            if ticket.failed:
                lines.append(ticket.failed)
                continue
            where = loaded.located.where(("tickets", keys.index(ticket.key), "expect")) \
                if ticket.key in keys else str(loaded.path)
            number = f" (#{ticket.number})" if ticket.number else ""
            lines += [f"{where}: ticket {ticket.key}{number}: {mismatch}" for mismatch in ticket.mismatches]
        lines += [f"{loaded.path}: {line}" for line in verdict.unconfirmed + verdict.slas]
        lines += [f"{loaded.located.where(('review',))}: review: {problem}" for problem in verdict.review]
    elif result is not None:
        lines += [f"{loaded.path}: {line}" for line in result.unconfirmed]
    return lines


def _cell(text: object) -> str:
    """Text in a Markdown table cell, shown as written: HTML-escaped (GitHub renders HTML in Markdown), ``|``
    and backslashes escaped, line breaks as ``<br>``."""
    value = html.escape(str(text), quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def summary_markdown(scenario: str, result: RunResult | None, report: Report | None, failures: list[str],
                     error: str = "") -> str:
    """The final review of a run as the job's summary: the tickets (status, SLA, met or breached, verified), the
    verdict and every failure."""
    passed = result is not None and result.passed and not error
    verdict = "passed" if passed else "failed"
    lines = [f"### ostops run: {_cell(scenario)} - {verdict}", ""]
    if result is not None:
        lines += [f"Run `{result.run_id}`, {len(result.tickets)} ticket(s), {result.seconds:.1f} s.", ""]
    verified = {t.key: t.passed for t in result.verdict.tickets} if result is not None and result.verdict else {}
    if report is not None and report.tickets:
        lines += ["| ticket | number | status | SLA | SLA outcome | agent | verified |",
                  "|---|---|---|---|---|---|---|"]
        for row in report.tickets:
            ok = verified.get(row.key)
            mark = "-" if ok is None else "yes" if ok else "**no**"
            lines.append(f"| {_cell(row.label)} | #{_cell(row.number)} | {_cell(row.status)} | "
                         f"{_cell(row.sla or '-')} | {_cell(row.sla_state)} | {_cell(row.agent or '-')} | {mark} |")
        status = ", ".join(f"{_cell(name)}: {count}" for name, count in report.by_status.items())
        lines += ["", f"Tickets by status: {status}."]
    if error:
        lines += ["", f"**Error:** {_cell(error)}"]
    if failures:
        lines += ["", "**Failures:**", ""] + [f"- {_cell(failure)}" for failure in failures]
    return "\n".join(lines) + "\n\n"


def append_summary(text: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Append ``text`` to the file ``GITHUB_STEP_SUMMARY`` names (False: none named, or not on GitHub Actions)."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not enabled(environ) or not target:
        return False
    with open(target, "a", encoding="utf-8") as summary:
        summary.write(text)
    return True


def wants_summary(environ: Mapping[str, str] = os.environ) -> bool:
    return enabled(environ) and bool(environ.get("GITHUB_STEP_SUMMARY"))
