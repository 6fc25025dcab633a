"""Channels, status checks and the time machine: every bad field is one problem with file:line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.scenarios.channels import _amount
from automation.scenarios.loader import load_scenario
from automation.scenarios.models import Advance
from tests.helpers.scenario_input import assert_named_at, run_refused

HEAD = "name: t\ntickets:\n  - key: a\n    requester: {name: K, email: k@example.com}\n    subject: S\n    message: M\n"

# name → (ticket lines after HEAD, the problem's line, words the problem must contain)
BAD: dict[str, tuple[str, int, str]] = {
    "unknown_channel": ("    channel: fax\n", 7, "tickets[0].channel"),
    "email_with_topic": ("    channel: email\n    topic: Report a Problem\n", 8, "an e-mail carries no help topic"),
    "portal_without_topic": ("    channel: portal\n", 7, "the Support Center's form needs a help topic"),
    "portal_with_priority": ("    channel: portal\n    topic: T\n    priority: High\n", 9,
                             "only the ticket API sets a priority"),
    "fields_outside_portal": ("    fields: {model: X1}\n", 7, "form fields are filled in only in the Support Center"),
    "agent_checks_status": ("    steps:\n      - {as: john.doe, do: check_status}\n", 8,
                            "'check_status' is the requester's step"),
    "unknown_status_seen": ("    steps:\n      - {as: requester, do: check_status, expect_status: Gone}\n", 8,
                            "expect_status"),
    "advance_as_agent": ("    steps:\n      - {as: john.doe, do: advance, hours: 2}\n", 8, "advance takes no `as:`"),
    "advance_no_time": ("    steps:\n      - {do: advance}\n", 8, "advance needs hours: or minutes:"),
    "advance_negative": ("    steps:\n      - {do: advance, minutes: -5}\n", 8, "minutes"),
    "advance_text": ("    steps:\n      - {do: advance, hours: two}\n", 8, "hours"),
    "agent_reply_via": ("    steps:\n      - {as: john.doe, do: reply, text: hi, via: portal}\n", 8,
                        "`via:` is for the requester's replies"),
    "reply_via_fax": ("    steps:\n      - {as: requester, do: reply, text: hi, via: fax}\n", 8, "via"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_channel_fields_name_file_and_line(tmp_path: Path, name: str) -> None:
    lines, line, words = BAD[name]
    assert_named_at(tmp_path / "s.yaml", HEAD + lines, line, words)


def test_cli_exits_2_for_a_bad_channel(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    assert f"{path}:8" in run_refused(path, HEAD + "    channel: email\n    topic: X\n")


def test_good_channels_load(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "    channel: portal\n    topic: T\n    fields: {model: X1}\n    steps:\n"
                    "      - {do: advance, hours: 1.5, minutes: 30}\n"
                    "      - {as: requester, do: check_status, expect_status: Open}\n"
                    "      - {as: requester, do: reply, text: hi, via: email}\n")
    ticket = load_scenario(path).scenario.tickets[0]
    assert ticket.channel == "portal" and ticket.fields == {"model": "X1"}
    advance = ticket.steps[0]
    assert isinstance(advance, Advance) and advance.seconds == 2 * 3600 and advance.actor == "requester"


def test_amount_reads_like_a_person_would_say_it() -> None:
    assert _amount(7200) == "2 h" and _amount(5430) == "1 h 30 min 30 s" and _amount(60) == "1 min"
