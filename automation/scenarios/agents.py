"""Acting agents checked before the first ticket: active, not on vacation, and holding,
in the department the ticket is in at that step, the permission each of their steps needs.

osTicket 1.18.1 decides the same way (include/class.ticket.php ``checkStaffPerm``, include/class.staff.php
``getRole``/``isAvailable``): an agent's role in a department is the primary role for the primary department,
else the extended access' role; a ticket assigned to the agent (or one of its teams) falls back to the primary
role (``def_assn_role``, on by default); otherwise the agent may only create tickets there. ``isactive = 0``
refuses the login ("Must login"), ``onvacation = 1`` makes the agent unavailable ("Agent is unavailable for
assignment"), so both are refused here for any acting agent and any agent a step assigns. The login itself
is tried next, before any ticket (`ScenarioRunner.log_in_agents`): a refused password is osTicket's answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from automation.errors import ScenarioError
from automation.osticket.db import cursor
from automation.osticket.directory import Directory
from automation.osticket.schema import STATE_CLOSED, Tables
from automation.scenarios.channels import is_agent_step
from automation.scenarios.loader import LoadedScenario
from automation.suggest import by_line, count

# The permission keys of include/class.ticket.php (Ticket::PERM_*) and which ajax/scp handler checks them:
# assign (ajax.tickets.php assign, PERM_ASSIGN), transfer (PERM_TRANSFER), SLA and priority (editField, PERM_EDIT),
# reply (scp/tickets.php, PERM_REPLY), a closed status (ajax.tickets.php changeStatus, PERM_CLOSE). A note needs
# only access to the ticket.
STEP_PERMISSION = {"assign_agent": "ticket.assign", "assign_team": "ticket.assign", "transfer": "ticket.transfer",
                   "change_sla": "ticket.edit", "change_priority": "ticket.edit", "reply": "ticket.reply"}
CLOSE_PERMISSION = "ticket.close"


@dataclass
class AgentRow:
    staff_id: int
    username: str
    active: bool
    on_vacation: bool
    passwd: str | None
    assigned_only: bool
    primary_dept: int
    primary_role: int
    assigned_role_fallback: bool
    roles: dict[int, int] = field(default_factory=dict)  # dept id -> role id (primary included)
    teams: set[int] = field(default_factory=set)


@dataclass
class HelpDesk:
    """What the check needs of osTicket, read in five queries."""

    agents: dict[str, AgentRow]  # folded username -> row
    role_perms: dict[int, frozenset[str]]
    role_names: dict[int, str]
    dept_names: dict[int, str]
    topic_dept: dict[str, int]  # topic name -> dept id (0: the default department)
    default_dept: int
    closed_statuses: set[str]

    @classmethod
    def read(cls, conn: Any, t: Tables) -> HelpDesk:
        with cursor(conn) as cur:
            cur.execute(f"SELECT staff_id, username, isactive, onvacation, passwd, assigned_only, dept_id, role_id, "
                        f"extra FROM {t.staff}")
            agents: dict[str, AgentRow] = {}
            for r in cur.fetchall():
                try:
                    extra = json.loads(r["extra"]) if r["extra"] else {}
                except ValueError:
                    extra = {}
                fallback = bool(extra.get("def_assn_role", True)) if isinstance(extra, dict) else True
                agents[str(r["username"]).casefold()] = AgentRow(
                    int(r["staff_id"]), str(r["username"]), bool(r["isactive"]), bool(r["onvacation"]),
                    r["passwd"], bool(r["assigned_only"]), int(r["dept_id"] or 0), int(r["role_id"] or 0), fallback,
                    {int(r["dept_id"] or 0): int(r["role_id"] or 0)})
            by_id = {a.staff_id: a for a in agents.values()}
            cur.execute(f"SELECT staff_id, dept_id, role_id FROM {t.staff_dept_access}")
            for r in cur.fetchall():
                if (agent := by_id.get(int(r["staff_id"]))) is not None:
                    agent.roles.setdefault(int(r["dept_id"]), int(r["role_id"]))
            cur.execute(f"SELECT staff_id, team_id FROM {t.team_member}")
            for r in cur.fetchall():
                if (agent := by_id.get(int(r["staff_id"]))) is not None:
                    agent.teams.add(int(r["team_id"]))
            cur.execute(f"SELECT id, name, permissions FROM {t.role}")
            perms, role_names = {}, {}
            for r in cur.fetchall():
                perms[int(r["id"])] = _permissions(r["permissions"])
                role_names[int(r["id"])] = str(r["name"])
            cur.execute(f"SELECT id, name FROM {t.department}")
            depts = {int(r["id"]): str(r["name"]) for r in cur.fetchall()}
            cur.execute(f"SELECT topic, dept_id FROM {t.help_topic}")
            topics = {str(r["topic"]): int(r["dept_id"] or 0) for r in cur.fetchall()}
            cur.execute(f"SELECT value FROM {t.config} WHERE namespace = 'core' AND `key` = 'default_dept_id'")
            row = cur.fetchone()
            cur.execute(f"SELECT name FROM {t.ticket_status} WHERE state = %s", [STATE_CLOSED])
            closed = {str(r["name"]) for r in cur.fetchall()}
        return cls(agents, perms, role_names, depts, topics, int(row["value"]) if row else 0, closed)


def _permissions(raw: str | None) -> frozenset[str]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return frozenset()
    return frozenset(k for k, v in data.items() if v) if isinstance(data, dict) else frozenset()


def agent_problems(loaded: LoadedScenario, desk: HelpDesk, departments: dict[str, int], teams: dict[str, int],
                   skip: frozenset[str] = frozenset()) -> list[str]:
    """Every problem with the agents the scenario acts as or assigns, in step order; ``departments`` and
    ``teams`` map the scenario's names to ids, ``skip`` names agents not to check (those a seed will write before the run)."""
    problems: list[str] = []
    reported: set[tuple[str, str]] = set()
    where = loaded.located.where

    def once(key: tuple[str, str], text: str) -> None:
        if key not in reported:
            reported.add(key)
            problems.append(text)

    for ti, ticket in enumerate(loaded.scenario.tickets):
        # None: not known before a seed creates it; such a step is checked by the run, once seeded
        dept: int | None = desk.default_dept
        if ticket.channel != "email" and ticket.topic is not None:
            dept = desk.topic_dept[ticket.topic] or desk.default_dept if ticket.topic in desk.topic_dept else None
        staff_id: int | None = None
        team_id: int | None = None
        for si, step in enumerate(ticket.steps):
            at = where(("tickets", ti, "steps", si, "as"))
            if not is_agent_step(step):
                continue
            agent = desk.agents.get(step.actor.casefold())
            if agent is not None and step.actor.casefold() not in skip:
                if not agent.active:
                    once((agent.username, "inactive"), f"{at}: agent {agent.username!r} is inactive (locked) in "
                         "osTicket and cannot log in; activate the account or choose another agent")
                elif agent.on_vacation:
                    once((agent.username, "vacation"), f"{at}: agent {agent.username!r} is on vacation "
                         "(ost_staff.onvacation): osTicket treats the agent as unavailable; end the vacation or "
                         "choose another agent")
                need = STEP_PERMISSION.get(step.do)
                if step.do == "set_status" and step.status in desk.closed_statuses:
                    need = CLOSE_PERMISSION
                assigned = staff_id == agent.staff_id or (team_id is not None and team_id in agent.teams)
                if need is not None and dept is not None:
                    held = _permissions_in(desk, agent, dept, assigned)
                    if need not in held:
                        role = _role_in(agent, dept, assigned)
                        as_role = (f"role {desk.role_names.get(role, f'#{role}')!r}" if role is not None
                                   else "no role there")
                        once((agent.username, f"{need}@{dept}"),
                             f"{at}: agent {agent.username!r} may not {step.do.replace('_', ' ')} in department "
                             f"{desk.dept_names.get(dept, f'#{dept}')!r} ({as_role}, which lacks {need}); give the "
                             "agent a role with it there (seed: agents[].role or access[].role)")
            match step.do:
                case "transfer":
                    dept = departments.get(step.department) or None
                case "assign_agent":
                    target = desk.agents.get(step.agent.casefold())
                    if target is not None and step.agent.casefold() not in skip and not (
                            target.active and not target.on_vacation):
                        why = "inactive" if not target.active else "on vacation"
                        once((target.username, "assignee"), f"{where(('tickets', ti, 'steps', si, 'agent'))}: "
                             f"agent {target.username!r} is {why}: osTicket refuses to assign it "
                             "(\"Agent is unavailable for assignment\")")
                    staff_id = target.staff_id if target is not None else None
                case "assign_team":
                    team_id = teams.get(step.team)
    return problems


def _role_in(agent: AgentRow, dept: int, assigned: bool) -> int | None:
    if agent.assigned_only and not assigned:
        return None
    if dept in agent.roles:
        return agent.roles[dept]
    if assigned and agent.assigned_role_fallback:
        return agent.primary_role
    return None


def _permissions_in(desk: HelpDesk, agent: AgentRow, dept: int, assigned: bool) -> frozenset[str]:
    role = _role_in(agent, dept, assigned)
    if role is None:
        return frozenset({"ticket.create"})
    return desk.role_perms.get(role, frozenset())


def check_agents(conn: Any, tables: Tables, loaded: LoadedScenario, directory: Directory, skip: frozenset[str] = frozenset(), after: str = "nothing was run") -> None:
    """Raise `ScenarioError` (exit 2) listing every problem `agent_problems` finds; reads only."""
    problems = agent_problems(loaded, HelpDesk.read(conn, tables), directory.departments, directory.teams, skip)
    if problems:
        raise ScenarioError(f"{loaded.path}: {count(len(problems))} with the agents; {after}", by_line(problems))
