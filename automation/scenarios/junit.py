"""JUnit XML for CI systems: one test case per step, one per ticket's verification, one for the review."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from automation.scenarios.record import RunResult


def junit_xml(result: RunResult, name: str) -> str:
    suite = ET.Element("testsuite", name=f"ostops: {name}", id=result.run_id,
                       timestamp=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"))
    failures = 0
    cases = 0
    for step in result.steps:
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{step.ticket}",
                             name=f"{step.actor} {step.action} {step.detail}".strip(), time=f"{step.seconds:.3f}")
        ET.SubElement(case, "system-out").text = step.where
        if step.error:
            failures += 1
            ET.SubElement(case, "failure", message=step.error).text = step.where
    if result.verdict is not None:
        for ticket in result.verdict.tickets:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"{name}.{ticket.key}", name="verified in database")
            if ticket.mismatches:
                failures += 1
                ET.SubElement(case, "failure", message="; ".join(ticket.mismatches)).text = "\n".join(ticket.mismatches)
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"{name}.review", name="final review")
        if result.verdict.review:
            failures += 1
            ET.SubElement(case, "failure", message="; ".join(result.verdict.review))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("time", f"{result.seconds:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def junit_error_xml(name: str, message: str) -> str:
    """A run that stopped before its first step (a refused login, osTicket unreachable): one errored case, so
    that CI shows why, and an earlier run's file is not taken for this one."""
    suite = ET.Element("testsuite", name=f"ostops: {name}", tests="1", failures="0", errors="1", time="0",
                       timestamp=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"))
    case = ET.SubElement(suite, "testcase", classname=f"{name}.prepare", name="before the first step")
    ET.SubElement(case, "error", message=message).text = message
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
