"""Bad input in one voice: did-you-mean for unknown names, problems by line, one wording for counts, a duplicate
key beside the file's other problems, and an unknown step action named with the valid ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.errors import ScenarioError, SeedError
from automation.scenarios.loader import check_names, load_scenario
from automation.seeding.loader import parse_seed
from automation.suggest import by_line, count, did_you_mean
from tests.unit.test_seed_plan import diff, fresh_state

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def test_did_you_mean() -> None:
    assert did_you_mean("jane.do", ["john.doe", "jane.doe"]) == " (did you mean 'jane.doe'?)"
    assert did_you_mean("SEV-A", ["Sev-A", "Sev-B"]) == " (did you mean 'Sev-A'?)"
    assert did_you_mean("zzz", ["john.doe"]) == ""


def test_count_and_order() -> None:
    assert (count(1), count(2), count(0, "unknown name")) == ("1 problem", "2 problems", "0 unknown names")
    assert by_line(["f:10 a: x", "f:2 b: y", "f: whole file", "f:2 c: z"]) == [
        "f: whole file", "f:2 b: y", "f:2 c: z", "f:10 a: x"]


def test_unknown_action_lists_the_valid_ones(tmp_path: Path) -> None:
    text = LAB.read_text().replace("do: note", "do: add_note", 1)
    (tmp_path / "helpdesk.yaml").write_text((REPO / "seed" / "helpdesk.yaml").read_text())
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert ".do: unknown action 'add_note' (did you mean 'note'?); the valid actions are assign_agent," in problem
    from automation.scenarios.models import Step

    actions = [a.__args__[0] for a in (t.model_fields["do"].annotation for t in Step.__args__[0].__args__)]
    assert problem.endswith(f"{', '.join(actions[:-1])} and {actions[-1]}")
    assert "tag" not in problem


def test_a_duplicate_key_no_longer_hides_the_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: a\nbogus: 1\nname: b\ntickets: []\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: 3 problems; nothing was run"
    assert [p.split(" ", 1)[0] for p in info.value.problems] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "duplicate key 'name'" in info.value.problems[1]
    with pytest.raises(SeedError) as seed_info:
        parse_seed("slas:\n  - {name: A, grace_hours: soon}\nslas: []\nusers: [{name: X}]\n", "s.yaml")
    problems = seed_info.value.problems
    assert any("duplicate key 'slas'" in p for p in problems) and len(problems) >= 2
    assert problems == by_line(problems)


class FakeDirectory:
    agents = {"john.doe": 2, "jane.doe": 3}
    teams = {"Online Banking": 1}
    slas = {"Sev-A": 2, "Sev-B": 3, "Default SLA": 1}
    departments = {"IT Support": 4}
    topics = {"Report a Problem": 10, "Online Banking Outage": 12}
    statuses = {"Open": 1, "Resolved": 2, "Closed": 3}
    priorities = {"low": 1, "normal": 2, "high": 3, "emergency": 4}
    ambiguous_departments: dict[str, list[str]] = {}


def test_unknown_names_in_a_scenario_get_a_did_you_mean(tmp_path: Path) -> None:
    text = LAB.read_text().replace("jane.doe", "jane.do").replace("Sev-A", "Sev-AA")
    (tmp_path / "helpdesk.yaml").write_text((REPO / "seed" / "helpdesk.yaml").read_text())
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "scenarios" / "s.yaml"  # the lab's seed: is ../helpdesk.yaml
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        check_names(load_scenario(path), FakeDirectory())  # type: ignore[arg-type]
    problems = info.value.problems
    assert any("unknown agent 'jane.do' (did you mean 'jane.doe'?)" in p for p in problems)
    assert any("unknown SLA 'Sev-AA' (did you mean 'Sev-A'?)" in p for p in problems)
    assert problems == by_line(problems)
    assert "unknown names; nothing was run" in str(info.value)


def test_unknown_names_in_a_seed_get_a_did_you_mean() -> None:
    text = "teams:\n  - name: T\n    members: [ostadmn]\nhelp_topics:\n  - {name: Topic, sla: Default SL}\n"
    with pytest.raises(SeedError) as info:
        diff(parse_seed(text, "s.yaml"), fresh_state())
    assert "s.yaml:3 teams[0].members[0]: unknown agent 'ostadmn' (did you mean 'ostadmin'?)" in info.value.problems
    assert "s.yaml:5 help_topics[0].sla: unknown SLA 'Default SL' (did you mean 'Default SLA'?)" in info.value.problems
