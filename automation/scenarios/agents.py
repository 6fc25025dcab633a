"""Acting agents checked before the first ticket: active, not on vacation, allowed to open the ticket at all in
the department it is in at that step, and holding there the permission each of their steps needs.

The rules are osTicket 1.18.1's own, followed step by step through what each step does to the ticket (its
department, its assignee and team, open or closed, referrals):

- ``Ticket::checkStaffPerm`` (include/class.ticket.php): an agent may open a ticket when ``Staff::canAccessDept``
  (not ``assigned_only``, and the ticket's department is among ``Staff::getDepartments``), or the ticket is
  assigned to the agent or one of its teams (``Ticket::isAssigned``: only while the ticket is open), or its
  thread is referred to the agent, one of its departments or teams (``Thread::isReferred``). Otherwise the staff
  panel answers "Access denied" (scp/tickets.php), "No such thread" (ajax.thread.php addCollaborator), "No such
  ticket" or "Permission denied" (ajax.tickets.php).
- ``Staff::getDepartments`` (include/class.staff.php): every department whose ``path`` contains the primary
  department's id or an extended-access department's id (so their sub-departments too), and those it manages.
- ``Staff::getRole``: the role of the ticket's department in ``getRoles`` (primary department and role, then
  each ``staff_dept_access`` row), else the primary role when the ticket is assigned to the agent and
  ``extra.def_assn_role`` is on (the default), else a role that may only create tickets.
- What each action needs: an internal note and a collaborator only access (scp/tickets.php ``postnote``, the
  ticket lock of ajax.tickets.php ``acquireLock``; ajax.thread.php ``addCollaborator``); a reply
  ``ticket.reply`` (scp/tickets.php ``reply``); an assignment ``ticket.assign`` (ajax.tickets.php ``assign``);
  a transfer ``ticket.transfer`` (``transfer``); SLA and priority ``ticket.edit`` (``editField``); a closed
  status ``ticket.close``, an open one ``ticket.close`` or ``ticket.create`` (``setTicketStatus``).
- What steps do to the ticket: it starts in the department of its e-mail address (channel email), of its help
  topic, else the default one (``Ticket::create``), assigned to the topic's agent or team; ``assign`` sets the
  agent or team, refused for an agent that is unavailable (``isAvailable``) or, in a department that assigns to
  members only (primary members only), not one (``Dept::canAssign``); ``transfer`` moves it and drops an
  assignee the new department may not be assigned, and reopens it; closing makes the closing agent its
  ``staff_id`` and refers the thread to the agent it was assigned to, else the closer (``setStatus``,
  ``auto_refer_closed``); reopening (a status, a transfer, the requester's message: ``onMessage``) gives it back
  to that agent when available and with access, else unassigns it; a reply claims an open unassigned ticket
  (``postReply``, ``auto_claim_tickets`` unless the department disables it).

``isactive = 0`` refuses the login ("Must login"), ``onvacation = 1`` makes the agent unavailable ("Agent is
unavailable for assignment"), so both are refused here for any acting agent and any agent a step assigns. The
login itself is tried next, before any ticket (`ScenarioRunner.log_in_agents`): a refused password is osTicket's
answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from automation.errors import ScenarioError
from automation.osticket.db import cursor
from automation.osticket.directory import Directory, department_paths
from automation.osticket.schema import (
    DEPT_ACTIVE,
    DEPT_ASSIGN_MEMBERS_ONLY,
    DEPT_ASSIGN_PRIMARY_ONLY,
    DEPT_DISABLE_AUTO_CLAIM,
    DEPT_DISABLE_REOPEN_AUTO_ASSIGN,
    STATE_CLOSED,
    Tables,
)
from automation.scenarios.channels import is_agent_step
from automation.scenarios.loader import LoadedScenario
from automation.scenarios.models import REQUESTER
from automation.suggest import by_line, count

# The permission each staff action needs beyond access to the ticket (Ticket::PERM_* of include/class.ticket.php;
# the handlers are named in the module's docstring). None: access alone (a note, a collaborator).
STEP_PERMISSION: dict[str, str | None] = {
    "assign_agent": "ticket.assign", "assign_team": "ticket.assign", "transfer": "ticket.transfer",
    "change_sla": "ticket.edit", "change_priority": "ticket.edit", "reply": "ticket.reply", "note": None,
    "add_collaborator": None}
CLOSE_PERMISSION = "ticket.close"
CREATE_PERMISSION = "ticket.create"
CREATE_ONLY = frozenset({CREATE_PERMISSION})  # Staff::getRole's role for a department the agent has none in


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

    @property
    def available(self) -> bool:  # Staff::isAvailable
        return self.active and not self.on_vacation


@dataclass
class Dept:
    name: str  # the path of names from the top ("Clinical Systems / Network"), as the scenario may name it
    path: tuple[int, ...]  # ids from the top down to this one (ost_department.path "/1/5/")
    manager: int = 0
    flags: int = DEPT_ACTIVE


@dataclass
class HelpDesk:
    """What the check needs of osTicket (or of osTicket as a seed will leave it: `automation.scenarios.preflight`)."""

    agents: dict[str, AgentRow]  # folded username -> row
    role_perms: dict[int, frozenset[str]]
    role_names: dict[int, str]
    depts: dict[int, Dept]
    topic_dept: dict[str, int]  # topic name -> dept id (0: none of its own)
    default_dept: int
    closed_statuses: set[str]
    topic_assignee: dict[str, tuple[int, int]] = field(default_factory=dict)  # topic -> (staff id, team id)
    email_dept: int = 0  # the department of the help desk's address (e-mailed tickets), 0: none of its own
    default_topic: str | None = None  # ``default_help_topic``: the topic of a ticket that names none
    auto_claim: bool = True  # ``auto_claim_tickets`` (OsticketConfig::$defaults: true)
    auto_refer_closed: bool = True  # ``auto_refer_closed`` (OsticketConfig::$defaults: true)

    @property
    def dept_names(self) -> dict[int, str]:
        return {ident: d.name for ident, d in self.depts.items()}

    @classmethod
    def read(cls, conn: Any, t: Tables) -> HelpDesk:
        with cursor(conn) as cur:
            cur.execute(f"SELECT staff_id, username, isactive, onvacation, passwd, assigned_only, dept_id, role_id, "
                        f"extra FROM {t.staff}")
            agents: dict[str, AgentRow] = {}
            for r in cur.fetchall():
                agents[str(r["username"]).casefold()] = AgentRow(
                    int(r["staff_id"]), str(r["username"]), bool(r["isactive"]), bool(r["onvacation"]),
                    r["passwd"], bool(r["assigned_only"]), int(r["dept_id"] or 0), int(r["role_id"] or 0),
                    _primary_role_on_assignment(r["extra"]), {int(r["dept_id"] or 0): int(r["role_id"] or 0)})
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
            cur.execute(f"SELECT id, path, manager_id, flags FROM {t.department}")
            rows = list(cur.fetchall())
            cur.execute(f"SELECT topic_id, topic, dept_id, staff_id, team_id FROM {t.help_topic}")
            topic_rows = list(cur.fetchall())
            cur.execute(f"SELECT `key`, value FROM {t.config} WHERE namespace = 'core' AND `key` IN "
                        "('default_dept_id', 'default_email_id', 'default_help_topic', 'auto_claim_tickets', "
                        "'auto_refer_closed')")
            config = {str(r["key"]): str(r["value"] or "") for r in cur.fetchall()}
            cur.execute(f"SELECT dept_id FROM {t.email} WHERE email_id = %s",
                        [_int(config.get("default_email_id"))])
            email = cur.fetchone()
            cur.execute(f"SELECT name FROM {t.ticket_status} WHERE state = %s", [STATE_CLOSED])
            closed = {str(r["name"]) for r in cur.fetchall()}
        names = department_paths(conn, t)
        depts = {int(r["id"]): Dept(names.get(int(r["id"]), f"#{r['id']}"), _path(r["path"], int(r["id"])),
                                    int(r["manager_id"] or 0), int(r["flags"] or 0)) for r in rows}
        topic_names = {int(r["topic_id"]): str(r["topic"]) for r in topic_rows}
        return cls(agents, perms, role_names, depts,
                   {str(r["topic"]): int(r["dept_id"] or 0) for r in topic_rows},
                   _int(config.get("default_dept_id")), closed,
                   topic_assignee={str(r["topic"]): (int(r["staff_id"] or 0), int(r["team_id"] or 0))
                                   for r in topic_rows},
                   email_dept=int(email["dept_id"] or 0) if email else 0,
                   default_topic=topic_names.get(_int(config.get("default_help_topic"))),
                   auto_claim=config.get("auto_claim_tickets", "1") not in ("0", ""),
                   auto_refer_closed=config.get("auto_refer_closed", "1") not in ("0", ""))

    # -- osTicket's rules ----------------------------------------------------------------------------------
    def departments_of(self, agent: AgentRow) -> set[int]:
        """Staff::getDepartments: departments below (or at) the primary one or an extended one, and managed ones."""
        roots = set(agent.roles)  # the primary department and every staff_dept_access row
        return {ident for ident, d in self.depts.items() if roots.intersection(d.path) or d.manager == agent.staff_id}

    def can_access_dept(self, agent: AgentRow, dept: int) -> bool:
        """Staff::canAccessDept."""
        return not agent.assigned_only and dept in self.departments_of(agent)

    def role(self, agent: AgentRow, dept: int, assigned: bool) -> int | None:
        """Staff::getRole: a role id, or None for the create-only role."""
        if dept in agent.roles:
            return agent.roles[dept]
        if assigned and agent.assigned_role_fallback:
            return agent.primary_role
        return None

    def permissions(self, agent: AgentRow, dept: int, assigned: bool) -> frozenset[str]:
        role = self.role(agent, dept, assigned)
        return CREATE_ONLY if role is None else self.role_perms.get(role, frozenset())

    def is_member(self, agent: AgentRow, dept: int) -> bool:
        """Dept::getMembers: primary members, the manager, agents with extended access there."""
        d = self.depts.get(dept)
        return dept in agent.roles or (d is not None and d.manager == agent.staff_id)

    def can_assign(self, agent: AgentRow, dept: int) -> bool:
        """Dept::canAssign for an agent."""
        flags = self.depts[dept].flags if dept in self.depts else 0
        if flags & DEPT_ASSIGN_PRIMARY_ONLY and agent.primary_dept != dept:
            return False
        return not (flags & DEPT_ASSIGN_MEMBERS_ONLY and not self.is_member(agent, dept))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _path(raw: Any, ident: int) -> tuple[int, ...]:
    ids = tuple(int(p) for p in str(raw or "").strip("/").split("/") if p.isdigit())
    return ids or (ident,)


def _primary_role_on_assignment(raw: Any) -> bool:
    """``Staff::usePrimaryRoleOnAssignment``: ``extra.def_assn_role``, true when unset."""
    try:
        extra = json.loads(raw) if raw else {}
    except ValueError:
        extra = {}
    return bool(extra.get("def_assn_role", True)) if isinstance(extra, dict) else True


def _permissions(raw: str | None) -> frozenset[str]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return frozenset()
    return frozenset(k for k, v in data.items() if v) if isinstance(data, dict) else frozenset()


@dataclass
class Ticket:
    """What decides who may act on a ticket, as the scenario's steps change it. ``dept`` None: not known (a
    topic the check cannot see): such steps are left to the run."""

    dept: int | None
    staff: int = 0  # ticket.staff_id: the assignee, or the agent who closed it
    team: int = 0
    open: bool = True
    referred_staff: set[int] = field(default_factory=set)

    def assigned(self, agent: AgentRow) -> bool:
        """Ticket::isAssigned($staff): only an open ticket is assigned."""
        return self.open and (self.staff == agent.staff_id or (self.team != 0 and self.team in agent.teams))

    def referred(self, agent: AgentRow) -> bool:
        return agent.staff_id in self.referred_staff


def _start(desk: HelpDesk, channel: str, topic: str | None) -> Ticket:
    """Ticket::create: the e-mail address' department, else the topic's (the named one, else the default topic),
    else the default department; the topic's agent or team."""
    topic = topic if topic is not None else desk.default_topic
    if topic is not None and topic not in desk.topic_dept:
        return Ticket(None)
    dept = desk.email_dept if channel == "email" else 0
    if dept and dept in desk.depts and not desk.depts[dept].flags & DEPT_ACTIVE:
        dept = desk.default_dept
    if not dept and topic is not None:
        dept = desk.topic_dept[topic]
    staff, team = desk.topic_assignee.get(topic, (0, 0)) if topic is not None else (0, 0)
    return Ticket(dept or desk.default_dept, staff, 0 if staff else team)


def _reopen(desk: HelpDesk, ticket: Ticket) -> None:
    """Ticket::setStatus to an open state from a closed one: back to the closing (or last assigned) agent when
    available and with access to the department, else unassigned."""
    if ticket.open:
        return
    ticket.open = True
    agent = next((a for a in desk.agents.values() if a.staff_id == ticket.staff), None)
    auto = ticket.dept is not None and not (desk.depts.get(ticket.dept, Dept("", ())).flags
                                            & DEPT_DISABLE_REOPEN_AUTO_ASSIGN)
    keep = auto and agent is not None and agent.available and ticket.dept is not None \
        and desk.can_access_dept(agent, ticket.dept)
    ticket.staff = ticket.staff if keep else 0


def agent_problems(loaded: LoadedScenario, desk: HelpDesk, departments: dict[str, int],
                   teams: dict[str, int]) -> list[str]:
    """Every problem with the agents the scenario acts as or assigns, in step order; ``departments`` and
    ``teams`` map the scenario's names to ids."""
    problems: list[str] = []
    again: dict[tuple[str, str], list[int]] = {}  # a problem already named -> the lines it comes back at
    where = loaded.located.where
    by_id = {a.staff_id: a for a in desk.agents.values()}

    def once(key: tuple[str, str], text: str, line: int) -> None:
        if key in again:
            again[key].append(line)
        else:
            again[key] = [len(problems)]
            problems.append(text)

    def dept_name(dept: int) -> str:
        return desk.depts[dept].name if dept in desk.depts else f"#{dept}"

    for ti, ticket in enumerate(loaded.scenario.tickets):
        state = _start(desk, ticket.channel, ticket.topic)
        for si, step in enumerate(ticket.steps):
            at = where(("tickets", ti, "steps", si, "as"))
            line = loaded.located.line(("tickets", ti, "steps", si))
            if step.actor == REQUESTER:
                if step.do == "reply":  # Ticket::onMessage reopens a closed ticket
                    _reopen(desk, state)
                continue
            if not is_agent_step(step) or step.do == "cron":  # cron needs no ticket
                continue
            agent = desk.agents.get(step.actor.casefold())
            if agent is None:
                _after(desk, state, step, agent, departments, teams)
                continue
            if not agent.active:
                once((agent.username, "inactive"), f"{at}: agent {agent.username!r} is inactive (locked) in "
                     "osTicket and cannot log in; activate the account or choose another agent", line)
            elif agent.on_vacation:
                once((agent.username, "vacation"), f"{at}: agent {agent.username!r} is on vacation "
                     "(ost_staff.onvacation): osTicket treats the agent as unavailable; end the vacation or "
                     "choose another agent", line)
            dept = state.dept
            if dept is not None:
                assigned = state.assigned(agent)
                if not (desk.can_access_dept(agent, dept) or assigned or state.referred(agent)):
                    why = ("sees only tickets assigned to it (assigned_only)" if agent.assigned_only
                           else "has no access to that department")
                    once((agent.username, f"access@{dept}"),
                         f"{at}: agent {agent.username!r} cannot {_verb(step.do)}: the ticket is in department "
                         f"{dept_name(dept)!r}, the agent {why} and the ticket is not assigned to it or its teams, so "
                         f"osTicket answers \"Access denied\"; give the agent access there (seed: agents[].access), "
                         "or assign the ticket to the agent or its team before this step", line)
                else:
                    need = _needs(desk, step)
                    held = desk.permissions(agent, dept, assigned)
                    if need and not (need & held):
                        role = desk.role(agent, dept, assigned)
                        as_role = (f"role {desk.role_names.get(role, f'#{role}')!r}" if role is not None
                                   else "no role there")
                        missing = " or ".join(sorted(need))
                        once((agent.username, f"{missing}@{dept}"),
                             f"{at}: agent {agent.username!r} may not {step.do.replace('_', ' ')} in department "
                             f"{dept_name(dept)!r} ({as_role}, which lacks {missing}); give the "
                             "agent a role with it there (seed: agents[].role or access[].role)", line)
            if step.do == "assign_agent":
                target = desk.agents.get(step.agent.casefold())
                if target is not None:
                    at_agent = where(("tickets", ti, "steps", si, "agent"))
                    if not target.available:
                        why = "inactive" if not target.active else "on vacation"
                        once((target.username, "assignee"), f"{at_agent}: agent {target.username!r} is {why}: "
                             "osTicket refuses to assign it (\"Agent is unavailable for assignment\")", line)
                    elif dept is not None and not desk.can_assign(target, dept):
                        once((target.username, f"assignee@{dept}"),
                             f"{at_agent}: department {dept_name(dept)!r} assigns its tickets to its members only "
                             f"and agent {target.username!r} is not one: osTicket answers \"Permission denied\"; "
                             "make the agent a member (seed: agents[].access) or assign another", line)
            _after(desk, state, step, agent, departments, teams, by_id)
    for first, *lines in again.values():
        if lines:
            problems[first] += f" (the same at line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})"
    return problems


def _verb(action: str) -> str:
    return {"note": "post a note", "add_collaborator": "add a collaborator", "reply": "reply",
            "set_status": "change the status"}.get(action, action.replace("_", " "))


def _needs(desk: HelpDesk, step: Any) -> frozenset[str]:
    """The permissions of which the agent needs one (none: access alone)."""
    if step.do == "set_status":
        if step.status in desk.closed_statuses:
            return frozenset({CLOSE_PERMISSION})
        return frozenset({CLOSE_PERMISSION, CREATE_PERMISSION})
    need = STEP_PERMISSION.get(step.do)
    return frozenset({need}) if need else frozenset()


def _after(desk: HelpDesk, state: Ticket, step: Any, agent: AgentRow | None, departments: dict[str, int],
           teams: dict[str, int], by_id: dict[int, AgentRow] | None = None) -> None:
    """What the step does to the ticket (see the module's docstring)."""
    by_id = by_id or {a.staff_id: a for a in desk.agents.values()}
    match step.do:
        case "transfer":
            target = departments.get(step.department)
            state.dept = target if target else None
            assignee = by_id.get(state.staff)
            if state.open and assignee is not None and target and target in desk.depts \
                    and desk.depts[target].flags & DEPT_ASSIGN_MEMBERS_ONLY and not desk.is_member(assignee, target):
                state.staff = 0
            _reopen(desk, state)
        case "assign_agent":
            target_agent = desk.agents.get(step.agent.casefold())
            if target_agent is not None and target_agent.available:
                state.staff = target_agent.staff_id
        case "assign_team":
            state.team = teams.get(step.team) or 0
            if not state.open:
                state.staff = 0
        case "set_status":
            if step.status in desk.closed_statuses:
                if agent is not None:
                    if desk.auto_refer_closed:
                        state.referred_staff.add(state.staff or agent.staff_id)
                    state.staff = agent.staff_id
                state.open = False
            else:
                _reopen(desk, state)
        case "reply":
            flags = desk.depts[state.dept].flags if state.dept in desk.depts else 0
            if agent is not None and state.open and not state.staff and desk.auto_claim \
                    and not flags & DEPT_DISABLE_AUTO_CLAIM:
                state.staff = agent.staff_id


def check_agents(conn: Any, tables: Tables, loaded: LoadedScenario, directory: Directory,
                 after: str = "nothing was run", desk: HelpDesk | None = None) -> None:
    """Raise `ScenarioError` (exit 2) listing every problem `agent_problems` finds; reads only (``desk``: the
    help desk as a seed will leave it, instead of reading it)."""
    problems = agent_problems(loaded, desk or HelpDesk.read(conn, tables), directory.departments, directory.teams)
    if problems:
        raise ScenarioError(f"{loaded.path}: {count(len(problems))} with the agents; {after}", by_line(problems))
