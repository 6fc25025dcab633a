"""`run --seed` checks the scenario against the help desk as the seed will leave it (issue 19 item 4: a seed
that creates two departments of one name made the bare name pass the check, the seed was written, then the run
refused it as "unknown"). tests/e2e/test_seed_preflight_e2e.py runs it against a real osTicket."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from automation.errors import ScenarioError
from automation.osticket.directory import Directory
from automation.scenarios.agents import AgentRow, Dept, HelpDesk, agent_problems
from automation.scenarios.loader import check_names, load_scenario
from automation.scenarios.preflight import after_seed
from automation.seeding.loader import parse_seed
from automation.seeding.plan import diff
from tests.unit.test_seed_plan import fresh_state

NORD = "R&D — Équipe «Nord»"
CLINICAL = 'Clinical "Ops" & Care'
LABS = "Labs — Ünit 3"
SEED = yaml.safe_dump({"departments": [
    {"name": CLINICAL}, {"name": LABS}, {"name": NORD, "parent": CLINICAL}, {"name": NORD, "parent": LABS}],
    "agents": [{"username": "zoe.ward", "first_name": "Zoë", "last_name": "O'Ward", "email": "zoe@example.com",
                "department": f"{LABS} / {NORD}", "role": "All Access"},
               {"username": "ostadmin", "first_name": "osTicket", "last_name": "Admin",
                "email": "ostadmin@example.com", "department": "Support", "role": "All Access",
                "access": [{"department": f"{CLINICAL} / {NORD}", "role": "All Access"},
                           {"department": "Maintenance", "role": "All Access"}]}],
    "teams": [{"name": "Nord «Night» & Day", "members": ["zoe.ward"]}],
    "help_topics": [{"name": "Pumps & «drug library»", "department": f"{CLINICAL} / {NORD}"}]},
    allow_unicode=True)


def merged() -> tuple[Directory, HelpDesk]:
    state = fresh_state()
    directory = Directory(agents={"ostadmin": 1}, teams={"Level I Support": 1}, slas={"Default SLA": 1},
                          departments={"Support": 1, "Maintenance": 3}, topics={"Report a Problem": 10},
                          statuses={"Open": 1, "Resolved": 2, "Closed": 3}, priorities={"Normal": 2},
                          helpdesk_email="help@example.com")
    desk = HelpDesk({"ostadmin": AgentRow(1, "ostadmin", True, False, None, False, 1, 1, True, {1: 1})},
                    {1: frozenset({"ticket.transfer", "ticket.reply", "ticket.edit", "ticket.assign", "ticket.close",
                                   "ticket.create"})}, {1: "All Access"},
                    {1: Dept("Support", (1,)), 3: Dept("Maintenance", (3,))}, {"Report a Problem": 3}, 1,
                    {"Resolved", "Closed"})
    return after_seed(directory, desk, state, diff(parse_seed(SEED, "seed.yaml"), state))


def scenario(tmp_path: Path, steps: list[dict[str, str]], topic: str = "Report a Problem") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "tickets": [{
        "key": "t", "requester": {"name": "Zoë", "email": "zoe.requester@example.com"}, "topic": topic,
        "subject": 'Pump "4B" & drug library — café', "message": "m", "steps": steps}]}, allow_unicode=True),
        encoding="utf-8")
    return path


def step(actor: str, do: str, **fields: str) -> dict[str, str]:
    return {"as": actor, "do": do, **fields}


def test_a_name_two_seeded_departments_share_is_ambiguous_before_anything_is_written(tmp_path: Path) -> None:
    directory, _ = merged()
    steps = [step("ostadmin", "transfer", department=NORD)]
    with pytest.raises(ScenarioError) as info:
        check_names(load_scenario(scenario(tmp_path, steps)), directory, "nothing was run or seeded")
    assert str(info.value).endswith(": 1 ambiguous name; nothing was run or seeded")
    (problem,) = info.value.problems
    assert f"ambiguous department '{NORD}': 2 departments have that name ('{CLINICAL} / {NORD}', '{LABS} / {NORD}')" \
        in problem
    assert "unknown" not in str(info.value) + problem


def test_seeded_names_resolve_by_path(tmp_path: Path) -> None:
    directory, desk = merged()
    steps = [step("ostadmin", "transfer", department=f"{CLINICAL} / {NORD}"),
             step("zoe.ward", "assign_team", team="Nord «Night» & Day")]
    loaded = load_scenario(scenario(tmp_path, steps))
    check_names(loaded, directory)
    new = directory.departments[f"{CLINICAL} / {NORD}"]
    assert new < 0 and directory.departments[f"{LABS} / {NORD}"] not in (new, None)
    assert desk.depts[new].name == f"{CLINICAL} / {NORD}"
    assert desk.depts[new].path == (directory.departments[CLINICAL], new)
    # zoe.ward (created by the seed) works in the other «Nord»: no access to the ticket there
    (problem,) = agent_problems(loaded, desk, directory.departments, directory.teams)
    assert f"agent 'zoe.ward' cannot assign team: the ticket is in department '{CLINICAL} / {NORD}'" in problem


def test_the_seed_s_access_and_teams_count(tmp_path: Path) -> None:
    directory, desk = merged()
    # ostadmin's extended access to Clinical's «Nord» comes from the seed; the topic's department too
    steps = [step("ostadmin", "reply", text="ok"), step("zoe.ward", "note", text="hi")]
    loaded = load_scenario(scenario(tmp_path, steps, topic="Pumps & «drug library»"))
    check_names(loaded, directory)
    (problem,) = agent_problems(loaded, desk, directory.departments, directory.teams)
    assert "'zoe.ward' cannot post a note" in problem
    assigned = [*steps, step("ostadmin", "assign_team", team="Nord «Night» & Day"),
                step("zoe.ward", "reply", text="ok & \"done\" — café")]
    loaded = load_scenario(scenario(tmp_path, assigned, topic="Pumps & «drug library»"))
    assert len(agent_problems(loaded, desk, directory.departments, directory.teams)) == 1  # the note only


def test_a_refused_row_is_told_in_the_seed_s_words() -> None:
    """Issue 19 item 7: no driver error reaches the user (the lock keeps ostops' own seeds apart; another
    writer can still get in between)."""
    import pymysql

    from automation.seeding.apply import _refused

    text = _refused(pymysql.IntegrityError(1062, "Duplicate entry 'R&D — Équipe «Nord»' for key 'name'"))
    assert "Duplicate entry" not in text and "IntegrityError" not in text
    assert text.startswith("osTicket already holds 'R&D — Équipe «Nord»'") and "seed again" in text
