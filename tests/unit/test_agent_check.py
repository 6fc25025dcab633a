"""Acting agents checked before the first ticket (the rules of osTicket 1.18.1's Ticket::checkStaffPerm and
Staff::getRole; tests/e2e/test_agents_e2e.py checks them against a real osTicket)."""

from __future__ import annotations

from pathlib import Path

from automation.scenarios.agents import AgentRow, HelpDesk, agent_problems
from automation.scenarios.loader import load_scenario

ALL, VIEW = 1, 4
IT, BANKING, SUPPORT = 10, 11, 1


def desk(**overrides: AgentRow) -> HelpDesk:
    agents = {
        "john": AgentRow(1, "john", True, False, None, False, IT, ALL, True, {IT: ALL}),
        "vera": AgentRow(2, "vera", True, False, None, False, IT, VIEW, True, {IT: VIEW, BANKING: ALL}, {7}),
        "nora": AgentRow(3, "nora", True, False, None, False, BANKING, ALL, False, {BANKING: ALL}),
    }
    agents.update(dict(overrides.items()))
    return HelpDesk(agents, {ALL: frozenset({"ticket.assign", "ticket.transfer", "ticket.edit", "ticket.reply",
                                             "ticket.close", "ticket.create"}), VIEW: frozenset()},
                    {ALL: "All Access", VIEW: "View only"}, {IT: "IT", BANKING: "Banking", SUPPORT: "Support"},
                    {"Printing": IT, "General": 0}, SUPPORT, {"Closed", "Resolved"})


def scenario(tmp_path: Path, steps: str, topic: str = "Printing", channel: str = "api") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
name: s
tickets:
  - key: t
    requester: {{name: Ken, email: ken@example.com}}
    channel: {channel}
    topic: {topic}
    subject: s
    message: m
    steps:
{steps}""")
    return path


def problems(tmp_path: Path, steps: str, d: HelpDesk | None = None, **kw: str) -> list[str]:
    return agent_problems(load_scenario(scenario(tmp_path, steps, **kw)), d or desk(), {"IT": IT, "Banking": BANKING},
                          {"Net": 7})


def test_a_capable_agent_passes(tmp_path: Path) -> None:
    assert problems(tmp_path, "      - {as: john, do: change_sla, sla: A}\n"
                              "      - {as: john, do: set_status, status: Closed}\n") == []


def test_inactive_and_vacation_are_named_once_each(tmp_path: Path) -> None:
    d = desk(john=AgentRow(1, "john", False, False, None, False, IT, ALL, True, {IT: ALL}),
             vera=AgentRow(2, "vera", True, True, None, False, IT, ALL, True, {IT: ALL}))
    found = problems(tmp_path, "      - {as: john, do: note, text: a}\n      - {as: john, do: note, text: b}\n"
                               "      - {as: vera, do: note, text: c}\n", d)
    assert len(found) == 2
    assert "s.yaml:10 tickets[0].steps[0].as: agent 'john' is inactive" in found[0]
    assert "s.yaml:12 tickets[0].steps[2].as: agent 'vera' is on vacation" in found[1]


def test_the_role_in_the_ticket_s_department_decides_and_follows_transfers(tmp_path: Path) -> None:
    found = problems(tmp_path, "      - {as: vera, do: change_priority, priority: High}\n"
                               "      - {as: john, do: transfer, department: Banking}\n"
                               "      - {as: vera, do: change_priority, priority: High}\n"
                               "      - {as: john, do: set_status, status: Closed}\n")
    assert found == [
        (f"{tmp_path / 's.yaml'}:10 tickets[0].steps[0].as: agent 'vera' may not change priority in department 'IT' "
        "(role 'View only', which lacks ticket.edit); give the agent a role with it there (seed: agents[].role or "
        "access[].role)"),
        (f"{tmp_path / 's.yaml'}:13 tickets[0].steps[3].as: agent 'john' may not set status in department 'Banking' "
        "(no role there, which lacks ticket.close); give the agent a role with it there (seed: agents[].role or "
        "access[].role)")]


def test_assignment_lends_the_primary_role_unless_turned_off(tmp_path: Path) -> None:
    john_in_banking = "      - {as: john, do: transfer, department: Banking}\n"
    assert problems(tmp_path, john_in_banking + "      - {as: john, do: assign_agent, agent: john}\n"
                                                "      - {as: john, do: reply, text: ok}\n") != []  # assign itself
    d = desk(nora=AgentRow(3, "nora", True, False, None, False, IT, ALL, False, {IT: ALL}))
    found = problems(tmp_path, "      - {as: john, do: assign_agent, agent: nora}\n"
                               "      - {as: john, do: transfer, department: Banking}\n"
                               "      - {as: nora, do: reply, text: ok}\n", d)
    assert len(found) == 1 and "'nora' may not reply in department 'Banking'" in found[0]


def test_an_unavailable_assignee_is_named(tmp_path: Path) -> None:
    d = desk(nora=AgentRow(3, "nora", True, True, None, False, IT, ALL, True, {IT: ALL}))
    found = problems(tmp_path, "      - {as: john, do: assign_agent, agent: nora}\n", d)
    assert found == [(f"{tmp_path / 's.yaml'}:10 tickets[0].steps[0].agent: agent 'nora' is on vacation: osTicket "
                     "refuses to assign it (\"Agent is unavailable for assignment\")")]


def test_topics_a_seed_will_create_are_left_to_the_run(tmp_path: Path) -> None:
    assert problems(tmp_path, "      - {as: john, do: reply, text: ok}\n", topic="General") != []  # default: Support
    assert problems(tmp_path, "      - {as: john, do: reply, text: ok}\n", topic="Made by the seed") == []
