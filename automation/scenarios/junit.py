"""JUnit XML for CI systems: one test case per step, one per ticket's verification, one for the review.

Test names are stable across runs (``<ticket key> / <step number> <actor> <action>``; never a ticket number,
which changes with every run), so CI can follow a test from run to run; a failed expectation carries the
scenario's file:line. A run that stopped early (a failed step, SIGINT or SIGTERM) lists the steps it never
reached as skipped; an interrupted one also gets an errored case naming every ticket with its state."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from automation.scenarios.loader import LoadedScenario
from automation.scenarios.record import RunResult


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def junit_xml(result: RunResult, loaded: LoadedScenario) -> str:
    name = loaded.scenario.name
    keys = [ticket.key for ticket in loaded.scenario.tickets]
    suite = ET.Element("testsuite", name=f"ostops: {name}", id=result.run_id, timestamp=_timestamp())
    failures = errors = skipped = 0
    cases = 0
    for step in result.steps:
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{step.ticket}",
                             name=f"{step.ticket} / {step.number} {step.actor} {step.action}",
                             time=f"{step.seconds:.3f}")
        ET.SubElement(case, "system-out").text = f"{step.where} {step.detail}".strip()
        if step.error:
            failures += 1
            ET.SubElement(case, "failure", message=f"{step.where}: {step.error}").text = step.where
    if result.verdict is not None:
        for ticket in result.verdict.tickets:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"{name}.{ticket.key}",
                                 name=f"{ticket.key} / verified in database")
            if ticket.mismatches:
                failures += 1
                where = loaded.located.where(("tickets", keys.index(ticket.key), "expect")) \
                    if ticket.key in keys else str(loaded.path)
                lines = [f"{where}: {mismatch}" for mismatch in ticket.mismatches]
                ET.SubElement(case, "failure", message="; ".join(lines)).text = "\n".join(lines)
            if ticket.skipped:  # expect.mail where no mail is captured: skipped, with the reason
                cases += 1
                skipped += 1
                case = ET.SubElement(suite, "testcase", classname=f"{name}.{ticket.key}",
                                     name=f"{ticket.key} / expect.mail")
                ET.SubElement(case, "skipped", message="; ".join(ticket.skipped)).text = "\n".join(ticket.skipped)
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.review", name="final review")
        if result.verdict.review:
            failures += 1
            where = loaded.located.where(("review",))
            lines = [f"{where}: {problem}" for problem in result.verdict.review]
            ET.SubElement(case, "failure", message="; ".join(lines)).text = "\n".join(lines)
    if result.unconfirmed:
        # Tickets of the run in osTicket that the run was never answered for: named even when a step failed.
        cases += 1
        failures += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.reconciliation",
                             name="every ticket of the run confirmed")
        ET.SubElement(case, "failure", message="; ".join(result.unconfirmed)).text = "\n".join(result.unconfirmed)
    if result.interrupted:
        cases += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.run", name="run completed")
        lines = [state.line() for state in result.ticket_states()] + result.unconfirmed
        ET.SubElement(case, "error", type="interrupted",
                      message=f"interrupted by {result.interrupted}; " + "; ".join(lines)).text = "\n".join(lines)
    if result.verdict is None:
        acted = {(step.ticket, step.number) for step in result.steps}
        why = f"not reached: the run was interrupted by {result.interrupted}" if result.interrupted \
            else "not reached: the run stopped at a failed step"
        for spec in loaded.scenario.tickets:
            planned = [(0, spec.requester.name, "create")]
            planned += [(i + 1, step.actor, step.do) for i, step in enumerate(spec.steps)]
            for number, actor, action in planned:
                if (spec.key, number) in acted:
                    continue
                cases += 1
                skipped += 1
                case = ET.SubElement(suite, "testcase", classname=f"{name}.{spec.key}",
                                     name=f"{spec.key} / {number} {actor} {action}", time="0")
                ET.SubElement(case, "skipped", message=why)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{result.seconds:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def junit_error_xml(name: str, message: str) -> str:
    """A run that stopped before its first step (a refused login, osTicket unreachable): one errored case, so
    that CI shows why, and an earlier run's file is not taken for this one."""
    suite = ET.Element("testsuite", name=f"ostops: {name}", tests="1", failures="0", errors="1", time="0",
                       timestamp=_timestamp())
    case = ET.SubElement(suite, "testcase", classname=f"{name}.prepare", name="before the first step")
    ET.SubElement(case, "error", message=message).text = message
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
