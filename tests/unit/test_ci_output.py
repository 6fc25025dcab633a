"""Issue 23: on GitHub Actions (GITHUB_ACTIONS=true) failures are `::error file=…,line=…,title=…::` annotations at
the scenario's file:line, and the final review is appended to $GITHUB_STEP_SUMMARY as Markdown; text as people
write it comes through intact (GitHub's escaping: "Workflow commands for GitHub Actions", actions/toolkit
command.ts escapeData / escapeProperty)."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest
import yaml

from automation import ci_output
from automation.cli import main
from automation.errors import ScenarioError, VerificationError
from automation.scenarios.loader import load_scenario
from automation.scenarios.record import RunResult, StepResult
from automation.scenarios.report import Report, TicketRow
from automation.scenarios.verify import TicketVerdict, Verdict

TEXTS = ['Printer "on fire"', "Tom & Jerry's", "a < b > c", "café crème, déjà vu", "打印机坏了, 请帮忙",
         "line one\nline two\r\nline three", "100% done: yes, really", "::error::not a command"]
GITHUB = {"GITHUB_ACTIONS": "true"}


def unescape_data(text: str) -> str:
    """What GitHub's runner does to a command's message (ActionCommand.cs: %0D %0A, then %25)."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def parse(command: str) -> tuple[dict[str, str], str]:
    """``::error k=v,k=v::message`` -> (properties, message), as the runner splits it."""
    assert command.startswith("::error") and "\n" not in command and "\r" not in command
    head, _, message = command[len("::error"):].partition("::")
    properties = dict(part.split("=", 1) for part in head.strip().split(",") if part)
    return {k: unescape_property(v) for k, v in properties.items()}, unescape_data(message)


@pytest.mark.parametrize("text", TEXTS)
def test_messages_and_properties_come_through_intact(text: str) -> None:
    properties, message = parse(ci_output.error_command(text, file="seed/a,b:c.yaml", line=12, title=text))
    assert message == text
    assert properties == {"file": "seed/a,b:c.yaml", "line": "12", "title": text}


def test_the_escapes_are_github_s() -> None:
    assert ci_output.escape_data("%\r\n:,") == "%25%0D%0A:,"
    assert ci_output.escape_property("%\r\n:,") == "%25%0D%0A%3A%2C"


def test_a_problem_at_a_file_and_line_is_placed_there_relative_to_the_workspace(tmp_path: Path) -> None:
    scenario = tmp_path / "seed" / "scénario & co.yaml"
    scenario.parent.mkdir()
    scenario.write_text("name: x\n", encoding="utf-8")
    problem = f"{scenario}:14 tickets[0].expect.team: unknown team 'Nord «Night» & <Day>'"
    properties, message = parse(ci_output.annotation(problem, "ostops: bad input",
                                                     {"GITHUB_WORKSPACE": str(tmp_path)}))
    assert properties == {"file": "seed/scénario & co.yaml", "line": "14", "title": "ostops: bad input"}
    assert message == problem
    # no file of that name: no position, the text still whole
    properties, message = parse(ci_output.annotation("run 2026-x: 3 expectation(s) not met", "t", {}))
    assert "file" not in properties and message == "run 2026-x: 3 expectation(s) not met"
    properties, _ = parse(ci_output.annotation("http://127.0.0.1:8080/ answered 502", "t", {}))
    assert "file" not in properties


def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({
        "name": "Lab «one» & <two>",
        "tickets": [{"key": "printer", "subject": "Printer & co", "message": "Help", "channel": "api",
                     "requester": {"name": "Zoë", "email": "zoe@example.com"},
                     "steps": [{"as": "john.doe", "do": "reply", "text": "On it"}],
                     "expect": {"status": "Resolved"}}]}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def failed_run() -> RunResult:
    verdict = Verdict("r1", [TicketVerdict("printer", "123456", ["status is 'Open', expected 'Resolved' «é» & <x>"])],
                      ["1 ticket(s) still open, expected 0"])
    return RunResult("r1", "lab.yaml", tickets={"printer": {"number": "123456"}},
                     steps=[StepResult("printer", "lab.yaml:9", "john.doe", "reply", "", 0.1)], verdict=verdict,
                     seconds=2.5)


def test_failed_expectations_carry_the_scenario_s_file_and_line(tmp_path: Path) -> None:
    path = lab_file(tmp_path)
    loaded = load_scenario(path)
    lines = ci_output.located_mismatches(loaded, failed_run().verdict, failed_run())
    expect_line = loaded.located.line(("tickets", 0, "expect"))
    assert lines[0] == (f"{path}:{expect_line} tickets[0].expect: ticket printer (#123456): status is 'Open', "
                        "expected 'Resolved' «é» & <x>")
    assert lines[1].startswith(f"{path}:{loaded.located.line(('review',))} review: review: 1 ticket(s) still open")
    annotations = ci_output.error_annotations(VerificationError("run r1: 2 expectation(s) not met", lines),
                                              {"GITHUB_WORKSPACE": str(tmp_path)})
    properties, message = parse(annotations[0])
    assert properties == {"file": "lab.yaml", "line": str(expect_line), "title": "ostops: expectation not met"}
    assert message == lines[0]


def test_a_ticket_failed_at_a_step_is_one_failure_at_the_step_s_line(tmp_path: Path) -> None:
    from automation.scenarios.record import failures

    path = lab_file(tmp_path)
    loaded = load_scenario(path)
    step = StepResult("printer", loaded.step_where(0, 0), "john.doe", "reply", "", 0.1,
                      error="osTicket refused: Access denied «é» & <x>", number=1)
    why = failures([step])["printer"]
    verdict = Verdict("r1", [TicketVerdict("printer", "123456", [why], failed=why)], [])
    result = RunResult("r1", str(path), tickets={"printer": {"number": "123456"}}, steps=[step], verdict=verdict)
    for lines in (ci_output.located_mismatches(loaded, verdict, result), ci_output.located_mismatches(loaded, verdict)):
        assert lines == [why]
        properties, message = parse(ci_output.annotation(lines[0], "t", {"GITHUB_WORKSPACE": str(tmp_path)}))
        assert properties["file"] == "lab.yaml" and properties["line"] == str(loaded.located.line(
            ("tickets", 0, "steps", 0)))
        assert message.endswith("the ticket's expectations were not checked") and "«é» & <x>" in message


def test_the_cli_annotates_bad_input_only_on_github_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: «x» & <y>\ntickets:\n  - key: a\n    subjet: typo\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["ostops", "validate", str(path)])
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2 and "::error" not in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    assert stopped.value.code == 2 and "::error" not in captured.out  # stdout stays the command's own
    commands = [parse(line) for line in captured.err.splitlines() if line.startswith("::error")]
    assert commands and all(p["file"] == "bad.yaml" and p["title"] == "ostops: bad input" for p, _ in commands)
    assert "4" in {p["line"] for p, _ in commands}  # the misspelt key's line


def test_an_error_without_problems_is_annotated_with_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    ci_output.report_error(ScenarioError("lab.yaml: the file holds\nno scenario & <nothing> 100%"), GITHUB)
    (line,) = capsys.readouterr().err.splitlines()
    assert parse(line)[1] == "lab.yaml: the file holds\nno scenario & <nothing> 100%"


def report(key: str = "printer «é» & <b>") -> Report:
    row = TicketRow(key=key, number="123456", subject="x", status="Open", sla="Sev-A | 1 h",
                    agent="john.doe", team=None, due=None, sla_state="breached", first_response_s=None,
                    resolution_s=None)
    return Report("r1", "now", [row], {"Open": 1}, [], [])


def cells(markdown: str) -> list[str]:
    """The text a reader sees in the table's cells (Markdown's escapes and HTML entities undone)."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    found = []
    for row in rows[1:]:
        for cell in re.split(r"(?<!\\)\|", row)[1:-1]:
            found.append(html.unescape(cell.strip().replace("\\|", "|").replace("<br>", "\n")))
    return found


@pytest.mark.parametrize("text", TEXTS)
def test_the_summary_shows_text_as_written(text: str) -> None:
    rpt = report()
    rpt.tickets[0].agent = text
    markdown = ci_output.summary_markdown(f"Lab {text}", failed_run(), rpt, [f"lab.yaml:9: {text}"])
    assert text.replace("\r\n", "\n") in cells(markdown)
    assert "<b>" not in markdown  # HTML in a name is shown, not rendered


def test_the_summary_holds_the_review_and_the_failures(tmp_path: Path) -> None:
    markdown = ci_output.summary_markdown("Lab", failed_run(), report("printer"), ["lab.yaml:12: status is 'Open'"])
    assert markdown.startswith("### ostops run: Lab - failed")
    assert "Run `r1`, 1 ticket(s), 2.5 s." in markdown
    assert cells(markdown) == ["printer", "#123456", "Open", "Sev-A | 1 h", "breached", "john.doe", "**no**"]
    assert "Tickets by status: Open: 1." in markdown
    assert "**Failures:**\n\n- lab.yaml:12: status is 'Open'\n" in markdown


def test_the_summary_is_appended_only_on_github_actions(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    assert not ci_output.append_summary("x\n", {"GITHUB_STEP_SUMMARY": str(target)})
    assert ci_output.append_summary("ostops «é» 打印\n", {**GITHUB, "GITHUB_STEP_SUMMARY": str(target)})
    assert ci_output.append_summary("again\n", {**GITHUB, "GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text(encoding="utf-8") == "earlier step\nostops «é» 打印\nagain\n"
    assert not ci_output.append_summary("x", GITHUB)
