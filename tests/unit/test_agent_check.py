"""Acting agents checked before the first ticket, by osTicket 1.18.1's rules (Ticket::checkStaffPerm,
Staff::getDepartments / canAccessDept / getRole, Dept::canAssign; the module's docstring cites each), followed
through what every step does to the ticket. tests/e2e/test_agents_e2e.py checks them against a real osTicket."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.osticket.schema import DEPT_ACTIVE, DEPT_ASSIGN_MEMBERS_ONLY
from automation.scenarios.agents import AgentRow, Dept, HelpDesk, agent_problems
from automation.scenarios.loader import load_scenario

ALL, VIEW, NOTHING = 1, 4, 5
SUPPORT, IT, BANKING, NETWORK = 1, 10, 11, 12
NET_TEAM = 7
EVERYTHING = frozenset({"ticket.assign", "ticket.transfer", "ticket.edit", "ticket.reply", "ticket.close",
                        "ticket.create"})


def agent(staff_id: int, name: str, dept: int, role: int, *, access: dict[int, int] | None = None,
          teams: set[int] | None = None, active: bool = True, vacation: bool = False, assigned_only: bool = False,
          fallback: bool = True) -> AgentRow:
    return AgentRow(staff_id, name, active, vacation, None, assigned_only, dept, role, fallback,
                    {**(access or {}), dept: role}, teams or set())


def desk(*overrides: AgentRow, flags: int = DEPT_ACTIVE) -> HelpDesk:
    agents = {a.username: a for a in (
        agent(1, "john", IT, ALL),
        agent(2, "vera", IT, VIEW, access={BANKING: ALL}, teams={NET_TEAM}),
        agent(3, "nora", BANKING, ALL, fallback=False),
        agent(4, "otto", SUPPORT, ALL, teams={NET_TEAM}),  # no access to IT
        agent(5, "asa", IT, ALL, assigned_only=True),
        agent(6, "nell", IT, NOTHING),
    )}
    agents.update({a.username: a for a in overrides})
    return HelpDesk(agents, {ALL: EVERYTHING, VIEW: frozenset(), NOTHING: frozenset()},
                    {ALL: "All Access", VIEW: "View only", NOTHING: "Nothing"},
                    {SUPPORT: Dept("Support", (SUPPORT,)), IT: Dept("IT", (IT,), flags=flags),
                     BANKING: Dept("Banking", (BANKING,)), NETWORK: Dept("IT / Network", (IT, NETWORK))},
                    {"Printing": IT, "General": 0}, SUPPORT, {"Closed", "Resolved"}, email_dept=BANKING)


def scenario(tmp_path: Path, steps: str, topic: str | None = "Printing", channel: str = "api") -> Path:
    path = tmp_path / "s.yaml"
    topic_line = f"    topic: {topic}\n" if topic else ""
    path.write_text(f"""\
name: s
tickets:
  - key: t
    requester: {{name: Ken, email: ken@example.com}}
    channel: {channel}
{topic_line}    subject: s
    message: m
    steps:
{steps}""")
    return path


def problems(tmp_path: Path, steps: str, d: HelpDesk | None = None, **kw: str | None) -> list[str]:
    return agent_problems(load_scenario(scenario(tmp_path, steps, **kw)), d or desk(),  # type: ignore[arg-type]
                          {"IT": IT, "Banking": BANKING, "IT / Network": NETWORK, "Support": SUPPORT},
                          {"Net": NET_TEAM})


def steps(*lines: str) -> str:
    return "".join(f"      - {line}\n" for line in lines)


NO_ACCESS = "has no access to that department and the ticket is not assigned to it or its teams"

# (steps, the problem each numbered step must raise: None for none). The ticket starts in IT (topic Printing).
RULES = [
    # Issue 19 item 5: a note and a collaborator need access to the ticket, not just a role (scp/tickets.php,
    # ajax.thread.php addCollaborator answer "Access denied" / "No such thread").
    ([("{as: otto, do: note, text: hi}", "cannot post a note: the ticket is in department 'IT'")], None),
    ([("{as: otto, do: add_collaborator, email: c@example.com}",
       "cannot add a collaborator: the ticket is in department 'IT'")], None),
    ([("{as: otto, do: reply, text: hi}", "cannot reply"), ("{as: otto, do: change_sla, sla: A}", None)], None),
    ([("{as: otto, do: set_status, status: Resolved}", "cannot change the status")], None),
    ([("{as: otto, do: transfer, department: Banking}", "cannot transfer")], None),
    ([("{as: otto, do: assign_team, team: Net}", "cannot assign team")], None),
    ([("{as: otto, do: change_priority, priority: High}", "cannot change priority")], None),
    # the primary department's sub-departments are open to the agent, with the create-only role
    ([("{as: john, do: transfer, department: IT / Network}", None), ("{as: john, do: note, text: hi}", None),
      ("{as: john, do: change_sla, sla: A}", "may not change sla in department 'IT / Network' (no role there")],
     None),
    # assignment lends access, and the primary role (def_assn_role)
    ([("{as: john, do: assign_agent, agent: otto}", None), ("{as: otto, do: note, text: hi}", None),
      ("{as: otto, do: reply, text: hi}", None)], None),
    # a team assignment lends it to the team's members
    ([("{as: john, do: assign_team, team: Net}", None), ("{as: otto, do: add_collaborator, email: c@example.com}",
                                                         None)], None),
    # assigned_only: only tickets assigned to the agent
    ([("{as: asa, do: note, text: hi}", "sees only tickets assigned to it (assigned_only)")], None),
    ([("{as: john, do: assign_agent, agent: asa}", None), ("{as: asa, do: note, text: hi}", None)], None),
    # transfers are followed: john has no access to Banking; vera has, with a role of her own there
    ([("{as: john, do: transfer, department: Banking}", None), ("{as: john, do: note, text: hi}", NO_ACCESS),
      ("{as: vera, do: reply, text: hi}", None)], None),
    # closing: the closer becomes the ticket's agent and the assignee is referred the thread; a closed ticket is
    # assigned to nobody, so the referred agent may look (note) but has only the create-only role (reply)
    ([("{as: john, do: assign_agent, agent: otto}", None), ("{as: otto, do: set_status, status: Resolved}", None),
      ("{as: otto, do: note, text: hi}", None),
      ("{as: otto, do: reply, text: hi}", ("may not reply in department 'IT' (no role there, which lacks "
                                          "ticket.reply)"))], None),
    # reopening: an open status needs ticket.close or ticket.create
    ([("{as: nell, do: set_status, status: Open}", ("may not set status in department 'IT' (role 'Nothing', "
                                                   "which lacks ticket.close or ticket.create)"))], None),
    # the requester's message reopens a closed ticket; the closer keeps it (available, with access)
    ([("{as: john, do: set_status, status: Closed}", None), ("{as: requester, do: reply, text: again}", None),
      ("{as: john, do: reply, text: ok}", None)], None),
    # cron needs no ticket
    ([("{as: otto, do: cron}", None)], None),
    # an e-mailed ticket starts in the help desk address' department (Banking here)
    ([("{as: vera, do: reply, text: hi}", None), ("{as: john, do: note, text: hi}", NO_ACCESS)], "email"),
]


@pytest.mark.parametrize(("rule", "channel"), RULES, ids=[f"rule{i}" for i in range(len(RULES))])
def test_the_rule_table(tmp_path: Path, rule: list[tuple[str, str | None]], channel: str | None) -> None:
    kw: dict[str, str | None] = {"channel": channel, "topic": None} if channel else {}
    found = problems(tmp_path, steps(*(line for line, _ in rule)), **kw)
    expected = [(i, text) for i, (_, text) in enumerate(rule) if text is not None]
    assert len(found) == len(expected), found
    for (i, text), problem in zip(expected, found, strict=True):
        assert f"tickets[0].steps[{i}].as: " in problem and text in problem, (text, problem)


def test_a_capable_agent_passes(tmp_path: Path) -> None:
    assert problems(tmp_path, steps("{as: john, do: change_sla, sla: A}", "{as: john, do: note, text: a}",
                                    "{as: john, do: add_collaborator, email: c@example.com}",
                                    "{as: john, do: set_status, status: Closed}")) == []


def test_the_access_message_says_what_to_do(tmp_path: Path) -> None:
    assert problems(tmp_path, steps("{as: otto, do: note, text: hi}")) == [
        (f"{tmp_path / 's.yaml'}:10 tickets[0].steps[0].as: agent 'otto' cannot post a note: the ticket is in "
        f"department 'IT', the agent {NO_ACCESS}, so osTicket answers \"Access denied\"; give the agent access "
        "there (seed: agents[].access), or assign the ticket to the agent or its team before this step")]


def test_inactive_and_vacation_are_named_once_each(tmp_path: Path) -> None:
    d = desk(agent(1, "john", IT, ALL, active=False), agent(2, "vera", IT, ALL, vacation=True))
    found = problems(tmp_path, steps("{as: john, do: note, text: a}", "{as: john, do: note, text: b}",
                                     "{as: vera, do: note, text: c}"), d)
    assert len(found) == 2
    assert "s.yaml:10 tickets[0].steps[0].as: agent 'john' is inactive" in found[0]
    assert found[0].endswith("(the same at line 11)")
    assert "s.yaml:12 tickets[0].steps[2].as: agent 'vera' is on vacation" in found[1]


def test_the_role_in_the_ticket_s_department_decides(tmp_path: Path) -> None:
    assert problems(tmp_path, steps("{as: vera, do: change_priority, priority: High}")) == [
        (f"{tmp_path / 's.yaml'}:10 tickets[0].steps[0].as: agent 'vera' may not change priority in department 'IT' "
        "(role 'View only', which lacks ticket.edit); give the agent a role with it there (seed: agents[].role or "
        "access[].role)")]


def test_assignment_lends_the_primary_role_unless_turned_off(tmp_path: Path) -> None:
    d = desk(agent(3, "nora", BANKING, ALL, access={IT: VIEW}, fallback=False))
    found = problems(tmp_path, steps("{as: john, do: assign_agent, agent: nora}", "{as: nora, do: reply, text: ok}"),
                     d)
    assert len(found) == 1 and "'nora' may not reply in department 'IT' (role 'View only'" in found[0]
    found = problems(tmp_path, steps("{as: john, do: assign_agent, agent: otto}", "{as: otto, do: reply, text: ok}"))
    assert found == []


def test_an_unavailable_assignee_is_named(tmp_path: Path) -> None:
    d = desk(agent(3, "nora", IT, ALL, vacation=True))
    found = problems(tmp_path, steps("{as: john, do: assign_agent, agent: nora}"), d)
    assert found == [(f"{tmp_path / 's.yaml'}:10 tickets[0].steps[0].agent: agent 'nora' is on vacation: osTicket "
                     "refuses to assign it (\"Agent is unavailable for assignment\")")]


def test_a_members_only_department_refuses_other_assignees(tmp_path: Path) -> None:
    d = desk(flags=DEPT_ACTIVE | DEPT_ASSIGN_MEMBERS_ONLY)
    found = problems(tmp_path, steps("{as: john, do: assign_agent, agent: otto}"), d)
    assert len(found) == 1 and "department 'IT' assigns its tickets to its members only" in found[0]
    assert problems(tmp_path, steps("{as: john, do: assign_agent, agent: vera}"), d) == []


def test_topics_the_check_cannot_see_are_left_to_the_run(tmp_path: Path) -> None:
    assert problems(tmp_path, steps("{as: john, do: reply, text: ok}"), topic="General") != []  # default: Support
    assert problems(tmp_path, steps("{as: john, do: reply, text: ok}"), topic="Made by the seed") == []
