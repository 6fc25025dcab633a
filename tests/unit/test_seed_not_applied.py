"""Issue 24: the lab on an instance its seed was never applied to says so once, not once per name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from automation.errors import ScenarioError
from automation.osticket.directory import Directory
from automation.scenarios.loader import check_names, load_scenario
from tests.helpers.osticket import REPO

LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def fresh_install() -> Directory:
    """What a new osTicket 1.18.1 holds before any seed."""
    return Directory(agents={"ostadmin": 1}, teams={}, slas={"Default SLA": 1}, departments={"Support": 1},
                     topics={"General Inquiry": 1, "Report a Problem": 2}, statuses={"Open": 1, "Resolved": 2,
                     "Closed": 3}, priorities={"Low": 1, "Normal": 2, "High": 3, "Emergency": 4},
                     helpdesk_email="support@example.com")


def test_the_lab_without_its_seed_is_one_message_naming_seed() -> None:
    with pytest.raises(ScenarioError) as info:
        check_names(load_scenario(LAB), fresh_install())
    message = str(info.value)
    assert "the seed" in message and "helpdesk.yaml is not applied on this instance: run with --seed" in message
    assert message.startswith(f"{LAB}:")
    assert len(info.value.problems) == 0  # every name the lab uses is the seed's


def test_a_name_the_seed_does_not_define_either_is_still_listed(tmp_path: Path) -> None:
    scenario = yaml.safe_load(LAB.read_text(encoding="utf-8"))
    scenario["seed"] = str(REPO / "seed" / "helpdesk.yaml")
    scenario["tickets"][0]["expect"]["agent"] = "ghost.agent"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        check_names(load_scenario(path), fresh_install())
    assert "is not applied on this instance: run with --seed" in str(info.value)
    assert len(info.value.problems) == 1 and "unknown agent 'ghost.agent'" in info.value.problems[0]


def test_one_typo_on_a_seeded_instance_is_not_blamed_on_the_seed(tmp_path: Path) -> None:
    scenario = yaml.safe_load(LAB.read_text(encoding="utf-8"))
    scenario["seed"] = str(REPO / "seed" / "helpdesk.yaml")
    scenario["tickets"][0]["expect"]["agent"] = "jane.do"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    seeded = fresh_install()
    seeded.agents.update({"john.doe": 2, "jane.doe": 3, "bob.smith": 4, "alice.jones": 5})
    with pytest.raises(ScenarioError) as info:
        check_names(load_scenario(path), seeded)
    assert "not applied" not in str(info.value)
