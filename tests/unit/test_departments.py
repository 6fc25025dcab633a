"""Department names a scenario may use (paths, unique bare names) and seed department cycles."""

from __future__ import annotations

from automation.osticket.directory import department_names
from automation.seeding.loader import department_cycles, parse_seed


def test_paths_always_and_bare_names_only_when_unique() -> None:
    names, ambiguous = department_names({1: "Clinical Systems", 2: "Clinical Systems / Network", 3: "Lab IT",
                                         4: "Lab IT / Network", 5: "Lab IT / Printers"})
    assert names["Clinical Systems / Network"] == 2 and names["Lab IT / Network"] == 4
    assert names["Printers"] == 5 and "Network" not in names
    assert ambiguous == {"Network": ["Clinical Systems / Network", "Lab IT / Network"]}


def test_cycles_of_one_two_and_three_are_named_once_and_trees_pass() -> None:
    seed = parse_seed("departments:\n  - {name: Top}\n  - {name: Child, parent: Top}\n"
                      "  - {name: Grand, parent: Top / Child}\n  - {name: Orphan, parent: Nowhere}\n")
    assert department_cycles(seed) == []
    import pytest

    from automation.errors import SeedError
    with pytest.raises(SeedError) as caught:
        parse_seed("departments:\n  - {name: X, parent: X}\n  - {name: P, parent: Q}\n  - {name: Q, parent: P}\n",
                   "s.yaml")
    assert caught.value.problems == [
        ("s.yaml:2 departments[0].parent: department parents form a cycle: X → X; one of them must have another "
        "parent (or none)"),
        ("s.yaml:3 departments[1].parent: department parents form a cycle: P → Q → P; one of them must have another "
        "parent (or none)")]
