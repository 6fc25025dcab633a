"""An unknown field is named with the closest field allowed where it is, in seed and scenario files alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.errors import ScenarioError, SeedError
from automation.field_names import field_names_at
from automation.scenarios.loader import load_scenario
from automation.scenarios.models import Scenario
from automation.seeding.loader import parse_seed
from automation.seeding.models import SeedFile

SCENARIO = """\
name: s
tickets:
  - key: a
    requester: {name: Karen, email: karen@example.com}
    subject: Printer
    message: It jams.
    steps:
      - do: note
        as: jane.doe
        text: Checked the tray.
    expect:
      status: Open
"""


def seed_problems(text: str) -> list[str]:
    with pytest.raises(SeedError) as info:
        parse_seed(text, "s.yaml")
    return info.value.problems


def scenario_problems(tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in SCENARIO
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return [problem.replace(str(path), "s.yaml") for problem in info.value.problems]


def test_a_seed_field() -> None:
    assert seed_problems("slas:\n  - name: Sev-A\n    grace_hour: 4\n") == [
        "s.yaml:2 slas[0].grace_hours: required field is missing",
        "s.yaml:3 slas[0].grace_hour: unknown field 'grace_hour' (did you mean 'grace_hours'?)",
    ]


def test_a_nested_seed_field() -> None:
    text = """\
agents:
  - username: jdoe
    first_name: J
    last_name: Doe
    email: j@example.com
    department: IT
    role: All Access
    access:
      - {department: Sales, role: All Access, alert: false}
"""
    assert seed_problems(text) == [
        "s.yaml:9 agents[0].access[0].alert: unknown field 'alert' (did you mean 'alerts'?)"]


def test_a_scenario_ticket_field(tmp_path: Path) -> None:
    found = scenario_problems(tmp_path, "    subject:", "    requestor: karen\n    subject:")
    assert found == ["s.yaml:5 tickets[0].requestor: unknown field 'requestor' (did you mean 'requester'?)"]


def test_an_expect_field(tmp_path: Path) -> None:
    found = scenario_problems(tmp_path, "      status: Open", "      stauts: Open")
    assert found == ["s.yaml:12 tickets[0].expect.stauts: unknown field 'stauts' (did you mean 'status'?)"]


def test_a_step_field_is_matched_against_the_fields_of_its_action(tmp_path: Path) -> None:
    # 'titel' is close to a note's 'title'; an assign_agent step has no title, so there it has no suggestion.
    found = scenario_problems(tmp_path, "        text:", "        titel: Tray\n        text:")
    assert found == ["s.yaml:10 tickets[0].steps[0].titel: unknown field 'titel' (did you mean 'title'?)"]
    found = scenario_problems(tmp_path, "do: note\n        as: jane.doe\n        text: Checked the tray.",
                              "do: assign_agent\n        as: jane.doe\n        agent: jane.doe\n        titel: Tray")
    assert found == ["s.yaml:11 tickets[0].steps[0].titel: unknown field 'titel'"]


def test_no_close_field_has_no_suggestion_but_still_its_line() -> None:
    assert seed_problems("slas:\n  - name: Sev-A\n    grace_hours: 4\n    colour: blue\n") == [
        "s.yaml:4 slas[0].colour: unknown field 'colour'"]


def test_the_names_a_model_allows_at_a_path() -> None:
    assert field_names_at(SeedFile, ("agents", 0, "access", 0)) == ["department", "role", "alerts"]
    assert "as" in field_names_at(Scenario, ("tickets", 0, "steps", 1, "advance"))  # an alias
    assert "hours" in field_names_at(Scenario, ("tickets", 0, "steps", 1, "advance"))
    assert "count" in field_names_at(Scenario, ("tickets", 0, "expect", "attachments"))  # through `| None`
    assert field_names_at(Scenario, ("tickets", 0, "steps", 1)) != []  # no tag yet: every action's fields
    assert field_names_at(Scenario, ("tickets", 0, "subject")) == []  # a string has no fields
    assert field_names_at(Scenario, ("nothing", 3)) == []
