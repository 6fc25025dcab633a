"""`ostops run --only KEY`: the scenario narrowed to some tickets, every line still the file's own."""

from __future__ import annotations

import re

import pytest

from automation.errors import ScenarioError
from automation.scenarios.loader import load_scenario, select_tickets
from tests.helpers.osticket import REPO

LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def test_only_keeps_the_named_tickets_in_file_order_with_their_lines() -> None:
    loaded = load_scenario(LAB)
    last = loaded.scenario.tickets[-1].key
    line_before = loaded.located.line(("tickets", 2, "steps", 1))
    narrowed = select_tickets(loaded, [last, loaded.scenario.tickets[0].key])
    assert [t.key for t in narrowed.scenario.tickets] == [loaded.scenario.tickets[0].key, last]
    # the last ticket is now index 1: messages about it still point at its line in the file
    assert narrowed.located.line(("tickets", 1, "steps", 1)) == line_before
    assert narrowed.located.line(("seed",)) == loaded.located.line(("seed",))
    assert len(loaded.scenario.tickets) == 3  # the loaded scenario itself is untouched


@pytest.mark.parametrize("keys", [["excel-wont-lunch"], []])
def test_only_an_unknown_key_names_every_key(keys: list[str]) -> None:
    with pytest.raises(ScenarioError) as err:
        select_tickets(load_scenario(LAB), keys)
    assert "online-banking-down, excel-wont-launch, cfo-laptop-dead" in str(err.value)
    if keys:
        assert "did you mean 'excel-wont-launch'" in str(err.value)


def test_the_learners_template_loads_with_every_field_explained() -> None:
    template = REPO / "seed" / "scenarios" / "my-ticket.yaml"
    loaded = load_scenario(template)
    assert [t.key for t in loaded.scenario.tickets] == ["my-ticket"]
    assert loaded.seed_path() == (REPO / "seed" / "helpdesk.yaml").resolve()
    first: dict[str, str] = {}
    for line in template.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\s*(?:- )?([a-z_]+):", line)
        if found:
            first.setdefault(found.group(1), line)
    unexplained = {key: line for key, line in first.items() if "#" not in line and key not in ("tickets", "text")}
    assert unexplained == {}
