"""Issue 19: a scenario's problems in plain sentences naming file:line and what to do (a duplicate ticket key at
the duplicate, naming the first; an empty file or ticket list; a bad e-mail), and the JSON Schema agrees with the
loader on `as:` of `do: advance`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from automation.errors import ScenarioError, SeedError
from automation.scenarios.loader import load_scenario
from automation.schemas import generate
from automation.seeding.loader import parse_seed
from tests.helpers.scenario_input import assert_named_at, run_refused

TICKET = "  - key: {key}\n    requester: {{name: Karen Doe, email: {email}}}\n    subject: S\n    message: M\n"


def scenario(*tickets: tuple[str, str], steps: str = "") -> str:
    return "name: s\ntickets:\n" + "".join(TICKET.format(key=k, email=e) for k, e in tickets) + steps


def test_a_duplicate_ticket_key_is_named_at_the_duplicate_with_the_first_one(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    text = scenario(("a", "k@example.com"), ("b", "k@example.com"), ("a", "k@example.com"))
    assert_named_at(path, text, 11, "tickets[2].key: duplicate ticket key 'a': ticket 1 at line 3 has it already; "
                                    "give each ticket a key of its own")
    assert "s.yaml:11 tickets[2].key: duplicate ticket key 'a'" in run_refused(path, text)


def test_an_empty_file_says_what_a_scenario_needs(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    for text in ("", "# nothing yet\n"):
        path.write_text(text)
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path)
        assert str(caught.value) == (f"{path}:1: the file holds no scenario (it is empty, or only comments); "
                                     "write its `name:` and its `tickets:` (seed/scenarios/lab.yaml is an example)")
    assert "Input should be" not in run_refused(path, "")


def test_an_empty_ticket_list_and_a_file_that_is_a_list_are_plain(tmp_path: Path) -> None:
    assert_named_at(tmp_path / "s.yaml", "name: s\ntickets: []\n", 2,
                    "tickets: no tickets: the list is empty; add at least one")
    assert_named_at(tmp_path / "s.yaml", "- a\n- b\n", 1, "(top): expected fields here (`name: value` lines), not a list")


@pytest.mark.parametrize(("email", "reason"), [
    ("karen.example.com", "an email address must have an @-sign"),
    ("karen@example", "the part after the @-sign is not valid; it should have a period")])
def test_a_bad_e_mail_is_named_in_plain_words(tmp_path: Path, email: str, reason: str) -> None:
    assert_named_at(tmp_path / "s.yaml", scenario(("a", email)), 4,
                    f"tickets[0].requester.email: {email!r} is not an e-mail address ({reason}); write it as "
                    "name@example.com")


def test_a_seed_s_bad_e_mail_is_named_in_plain_words() -> None:
    with pytest.raises(SeedError) as caught:
        parse_seed("users:\n  - {name: Karen Doe, email: karen.example.com}\n", "s.yaml")
    assert "s.yaml:2 users[0].email: 'karen.example.com' is not an e-mail address; write it as name@example.com" in (
        caught.value.problems)


ADVANCE_AS_AGENT = scenario(("a", "k@example.com"), steps="    steps:\n      - {as: john.doe, do: advance, hours: 2}\n")


def test_schema_and_loader_agree_on_as_for_advance(tmp_path: Path) -> None:
    """The schema allowed any `as:` on `do: advance`; the loader refuses all but the requester."""
    allowed = json.loads(generate("scenario.schema.json"))["$defs"]["Advance"]["properties"]["as"]
    assert allowed["const"] == "requester" and allowed["default"] == "requester"
    assert yaml.safe_load(ADVANCE_AS_AGENT)["tickets"][0]["steps"][0]["as"] != allowed["const"]
    assert_named_at(tmp_path / "s.yaml", ADVANCE_AS_AGENT, 8, "advance takes no `as:` (time passes for everyone)")
    for steps in ("      - {do: advance, hours: 2}\n", "      - {as: requester, do: advance, hours: 2}\n"):
        accepted = scenario(("a", "k@example.com"), steps="    steps:\n" + steps)
        path = tmp_path / "ok.yaml"
        path.write_text(accepted)
        assert load_scenario(path).scenario.tickets[0].steps[0].actor == "requester"
