"""`ostops run --seed`: the scenario checked against the help desk as the seed will leave it, before the seed
writes anything, so that exit 2 always means nothing was written.

The seed is planned (read only, as `ostops seed --plan` does) and the plan laid over what the database holds:
every name the scenario uses is resolved there (a department name two departments will share is "ambiguous",
naming their paths), and every acting agent is checked there with the rules of `automation.scenarios.agents`
(roles, extended access and teams as the seed will set them). Rows the seed will create get ids below zero:
they stand for the ids osTicket will give them."""

from __future__ import annotations

import dataclasses
from typing import Any

from automation.credentials import CredentialStore, agent_password, password_variable
from automation.errors import ScenarioError
from automation.instance import Instance
from automation.osticket import db
from automation.osticket.directory import DEPT_SEPARATOR, Directory, department_names, fold
from automation.osticket.schema import DEPT_ACTIVE, Tables
from automation.scenarios.agents import AgentRow, Dept, HelpDesk, check_agents
from automation.scenarios.loader import LoadedScenario, check_names
from automation.scenarios.models import REQUESTER
from automation.seeding.models import SeedFile
from automation.seeding.plan import Plan, Ref, State, diff, read_state


class _Ids:
    """The id of a seed reference once seeded: the database's, else a stand-in below zero."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.new: dict[tuple[str, str], int] = {}

    def of(self, ref: Ref | None) -> int:
        if ref is None:
            return 0
        found = self.state.lookup(ref.kind, ref.key)
        if found is not None:
            return found
        return self.new.setdefault((ref.kind, fold(ref.key)), -1 - len(self.new))


def _rename(names: dict[str, int], name: str, ident: int) -> None:
    """``name`` now stands for ``ident`` (osTicket's collation compares names case-insensitively: the seed's
    spelling replaces the database's)."""
    for old in [k for k in names if fold(k) == fold(name)]:
        del names[old]
    names[name] = ident


def after_seed(directory: Directory, desk: HelpDesk, state: State, plan: Plan) -> tuple[Directory, HelpDesk]:
    """The help desk's names and agents as they will be once ``plan`` is applied over ``state``."""
    ids = _Ids(state)
    names = {kind: dict(getattr(directory, kind)) for kind in ("agents", "teams", "slas", "topics")}
    kinds = {"sla": ("sla", "slas"), "team": ("team", "teams"), "help topic": ("topic", "topics")}
    for change in plan.entries:
        if change.kind in kinds:
            ref_kind, table = kinds[change.kind]
            _rename(names[table], change.target.get("name", change.key), ids.of(Ref(ref_kind, change.key)))
        elif change.kind == "agent" and change.action == "create":
            names["agents"][change.key] = ids.of(Ref("agent", change.key))

    # departments: names, parents, paths, managers, flags
    rows: dict[int, tuple[int, str]] = {int(r["id"]): (int(r["pid"] or 0), str(r["name"])) for r in state.depts}
    depts = {ident: dataclasses.replace(d) for ident, d in desk.depts.items()}
    dept_changes = sorted((c for c in plan.entries if c.kind == "department"),
                          key=lambda c: c.key.count(DEPT_SEPARATOR))
    for change in dept_changes:
        ident, target = ids.of(Ref("dept", change.key)), change.target
        if change.action == "create":
            pid = ids.of(target.get("parent"))
            parent = depts.get(pid)
            depts[ident] = Dept("", (*(parent.path if parent else ()), ident),
                                flags=DEPT_ACTIVE if target.get("active", True) else 0)
            rows[ident] = (pid, target["name"])
        elif change.action == "update":
            rows[ident] = (rows[ident][0], target["name"])
            if "active" in change.fields:
                depts[ident].flags = (depts[ident].flags | DEPT_ACTIVE) if target["active"] \
                    else depts[ident].flags & ~DEPT_ACTIVE
        if "manager" in change.fields:
            depts[ident].manager = ids.of(target.get("manager"))
    paths = _paths(rows)
    for ident, path in paths.items():
        if ident in depts:
            depts[ident].name = path
    departments, ambiguous = department_names(paths)

    # agents, their extended access and their teams
    agents = {key: dataclasses.replace(a, roles=dict(a.roles), teams=set(a.teams)) for key, a in desk.agents.items()}
    for change in plan.entries:
        if change.kind != "agent" or change.action == "unchanged":
            continue
        target, ident = change.target, ids.of(Ref("agent", change.key))
        row = agents.get(fold(change.key)) or AgentRow(ident, change.key, True, False, None, False, 0, 0, True)
        row.primary_dept = ids.of(target.get("department")) if "department" in target else row.primary_dept
        row.primary_role = ids.of(target.get("role")) if "role" in target else row.primary_role
        row.active = bool(target.get("active", row.active))
        row.on_vacation = bool(target.get("on_vacation", row.on_vacation))
        row.assigned_only = bool(target.get("assigned_only", row.assigned_only))
        agents[fold(change.key)] = row
    by_id = {a.staff_id: a for a in agents.values()}
    access = {(int(r["staff_id"]), int(r["dept_id"])): int(r["role_id"]) for r in state.dept_access}
    for agent_ref, dept_ref in plan.access_remove:
        access.pop((ids.of(agent_ref), ids.of(dept_ref)), None)
    for agent_ref, dept_ref, role_ref, _ in plan.access_update + plan.access_add:
        access[(ids.of(agent_ref), ids.of(dept_ref))] = ids.of(role_ref)
    for agent in agents.values():
        agent.roles = {agent.primary_dept: agent.primary_role}
    for (staff_id, dept_id), role_id in sorted(access.items()):
        if staff_id in by_id:
            by_id[staff_id].roles.setdefault(dept_id, role_id)
    members = {(int(r["team_id"]), int(r["staff_id"])) for r in state.team_members}
    members -= {(ids.of(t), ids.of(a)) for t, a in plan.members_remove}
    members |= {(ids.of(t), ids.of(a)) for t, a in plan.members_add}
    for agent in agents.values():
        agent.teams = {team for team, staff in members if staff == agent.staff_id}

    # help topics' departments, the default department
    topic_dept, topic_assignee, default_dept = dict(desk.topic_dept), dict(desk.topic_assignee), desk.default_dept
    for change in plan.entries:
        if change.kind == "help topic":
            name = change.target.get("name", change.key)
            for old in [k for k in topic_dept if fold(k) == fold(name)]:
                topic_assignee[name] = topic_assignee.pop(old, (0, 0))
                del topic_dept[old]
            topic_dept[name] = ids.of(change.target.get("department"))
            topic_assignee.setdefault(name, (0, 0))
        elif change.kind == "setting" and change.key == "default_department" and change.action == "update":
            default_dept = ids.of(change.target["value"])

    merged_directory = dataclasses.replace(directory, departments=departments, ambiguous_departments=ambiguous,
                                           agents=names["agents"], teams=names["teams"], slas=names["slas"],
                                           topics=names["topics"])
    merged_desk = dataclasses.replace(desk, agents=agents, depts=depts, topic_dept=topic_dept,
                                      topic_assignee=topic_assignee, default_dept=default_dept)
    return merged_directory, merged_desk


def _paths(rows: dict[int, tuple[int, str]]) -> dict[int, str]:
    """Department id -> its path of names (``directory.department_paths``, over rows not yet written)."""
    paths: dict[int, str] = {}
    for ident in rows:
        names, seen, probe = [], set(), ident
        while probe in rows and probe not in seen:
            seen.add(probe)
            pid, name = rows[probe]
            names.append(name)
            probe = pid
        paths[ident] = DEPT_SEPARATOR.join(reversed(names))
    return paths


def merged_help_desk(conn: Any, tables: Tables, seed: SeedFile,
                     store: CredentialStore) -> tuple[Directory, HelpDesk]:
    """Read the help desk and plan ``seed`` over it (a seed that cannot apply is a `SeedError` here); reads only."""
    state = read_state(conn, tables)
    plan = diff(seed, state, store)
    return after_seed(Directory.read(conn, tables), HelpDesk.read(conn, tables), state, plan)


def check_before_seed(instance: Instance, loaded: LoadedScenario, seed: SeedFile, store: CredentialStore) -> None:
    """Raise `ScenarioError` (exit 2) naming every name the scenario uses that the help desk will not hold once
    seeded (or will hold twice), every problem with its agents there, and every acting agent the seed does not
    create who has no password; reads only."""
    conn = db.connect(instance)
    tables = db.Tables(instance.db.table_prefix)
    try:
        directory, desk = merged_help_desk(conn, tables, seed, store)
        check_names(loaded, directory, "nothing was run or seeded")
        check_agents(conn, tables, loaded, directory, after="nothing was run or seeded", desk=desk)
    finally:
        conn.close()
    seeded = {a.username for a in seed.agents}
    problems: dict[str, str] = {}
    for ti, ticket in enumerate(loaded.scenario.tickets):
        for si, step in enumerate(ticket.steps):
            actor = step.actor
            if actor != REQUESTER and actor not in seeded and actor not in problems \
                    and agent_password(instance, store, actor) is None:
                problems[actor] = (f"{loaded.located.where(('tickets', ti, 'steps', si, 'as'))}: no password for "
                                   f"agent {actor!r} (seed it, or set {password_variable(actor)})")
    if problems:
        raise ScenarioError(f"{loaded.path}: {len(problems)} agent(s) without credentials; nothing was run or "
                            "seeded", list(problems.values()))
