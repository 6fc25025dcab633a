"""JUnit XML for CI systems: one test case per planned step (the creation first), one per ticket's
verification, one for the final review; the same cases, by the same names, in every run of a scenario.

Names never hold a ticket number, which changes with every run, nor a step's index, which changes when a step is
inserted: ``<ticket key> / requester create``, ``<ticket key> / <id>`` for a step with an ``id:``, else
``<ticket key> / <as> <do>`` with `` #k`` for the k-th step of that ``as`` and ``do`` in the ticket
(`models.case_names`). A step osTicket refused is a failure carrying the scenario's file:line, as is a failed
expectation; a step cut off by a signal, or failed because osTicket or the environment did, is an error. Every
step not acted is skipped with why (an earlier step of its ticket failed, the run stopped); the verification of
a ticket that failed at a step is skipped (its failure is the step's); a run that stopped before its verdict has
every verification and the review skipped, with the reason. An interrupted run also gets an errored case naming
every ticket with its state."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from automation.scenarios.loader import LoadedScenario
from automation.scenarios.models import case_names
from automation.scenarios.record import RunResult, SkippedStep, StepResult


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def junit_xml(result: RunResult, loaded: LoadedScenario) -> str:
    name = loaded.scenario.name
    keys = [ticket.key for ticket in loaded.scenario.tickets]
    suite = ET.Element("testsuite", name=f"ostops: {name}", id=result.run_id, timestamp=_timestamp())
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(group: str, test: str, seconds: float | None = None) -> ET.Element:
        counts["tests"] += 1
        element = ET.SubElement(suite, "testcase", classname=f"{name}.{group}", name=test)
        if seconds is not None:
            element.set("time", f"{seconds:.3f}")
        return element

    def skip(element: ET.Element, message: str, text: str = "") -> None:
        counts["skipped"] += 1
        ET.SubElement(element, "skipped", message=message).text = text or None

    def fail(element: ET.Element, lines: list[str]) -> None:
        counts["failures"] += 1
        ET.SubElement(element, "failure", message="; ".join(lines)).text = "\n".join(lines)

    # Every planned step in the scenario's order, acted or skipped.
    names = {spec.key: case_names(spec) for spec in loaded.scenario.tickets}
    entries: dict[tuple[str, str], StepResult | SkippedStep] = {}
    every: list[StepResult | SkippedStep] = [*result.steps, *result.skipped]
    for one in every:
        entries.setdefault((one.ticket, _name(one, names)), one)
    planned = [(key, test) for key, tests in names.items() for test in tests]
    why = result.stopped or (f"not reached: the run was interrupted by {result.interrupted}"
                             if result.interrupted else "not reached: the run stopped")
    for ticket_test in planned + sorted(set(entries) - set(planned), key=list(entries).index):
        entry = entries.get(ticket_test)
        if entry is None:  # a result the runner did not make (it lists each step it skipped, with why)
            if result.verdict is None:
                skip(case(ticket_test[0], ticket_test[1], 0), why)
            continue
        if isinstance(entry, SkippedStep):
            element = case(entry.ticket, entry.name, 0)
            skip(element, entry.reason, entry.where)
            continue
        element = case(entry.ticket, ticket_test[1], entry.seconds)
        ET.SubElement(element, "system-out").text = f"{entry.where} {entry.detail}".strip()
        if entry.error and entry.errored:
            counts["errors"] += 1
            ET.SubElement(element, "error", type=entry.errored,
                          message=f"{entry.where}: {entry.error}").text = entry.where
        elif entry.error:
            counts["failures"] += 1
            ET.SubElement(element, "failure", message=f"{entry.where}: {entry.error}").text = entry.where
    if result.verdict is not None:
        for ticket in result.verdict.tickets:
            element = case(ticket.key, f"{ticket.key} / verified in database")
            if ticket.failed:
                skip(element, ticket.failed)
            elif ticket.mismatches:
                where = loaded.located.where(("tickets", keys.index(ticket.key), "expect")) \
                    if ticket.key in keys else str(loaded.path)
                fail(element, [f"{where}: {mismatch}" for mismatch in ticket.mismatches])
            if ticket.skipped:  # expect.mail where no mail is captured: skipped, with the reason
                skip(case(ticket.key, f"{ticket.key} / expect.mail"), "; ".join(ticket.skipped),
                     "\n".join(ticket.skipped))
        element = case("review", "final review")
        if result.verdict.review:
            where = loaded.located.where(("review",))
            fail(element, [f"{where}: {problem}" for problem in result.verdict.review])
    else:
        for key in keys:
            skip(case(key, f"{key} / verified in database", 0), why)
        skip(case("review", "final review", 0), why)
    if result.unconfirmed:
        # Tickets of the run in osTicket that the run was never answered for: named even when a step failed.
        fail(case("reconciliation", "every ticket of the run confirmed"), result.unconfirmed)
    if result.interrupted:
        counts["errors"] += 1
        element = case("run", "run completed")
        lines = [state.line() for state in result.ticket_states()] + result.unconfirmed
        ET.SubElement(element, "error", type="interrupted",
                      message=f"interrupted by {result.interrupted}; " + "; ".join(lines)).text = "\n".join(lines)
    for attribute, value in counts.items():
        suite.set(attribute, str(value))
    suite.set("time", f"{result.seconds:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _name(entry: StepResult | SkippedStep, names: dict[str, list[str]]) -> str:
    if isinstance(entry, StepResult) and not entry.name:  # a result made without the runner
        planned = names.get(entry.ticket, [])
        return planned[entry.number] if entry.number < len(planned) else f"{entry.ticket} / {entry.label}"
    return entry.name


def junit_error_xml(name: str, message: str) -> str:
    """A run that stopped before its first step (a refused login, osTicket unreachable): one errored case, so
    that CI shows why, and an earlier run's file is not taken for this one."""
    suite = ET.Element("testsuite", name=f"ostops: {name}", tests="1", failures="0", errors="1", time="0",
                       timestamp=_timestamp())
    case = ET.SubElement(suite, "testcase", classname=f"{name}.prepare", name="before the first step")
    ET.SubElement(case, "error", message=message).text = message
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
