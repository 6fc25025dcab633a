"""`ostops run --seed`: the scenario's names checked against the seed file and the database together, before the
seed writes anything, so that exit 2 always means nothing was written."""

from __future__ import annotations

import dataclasses

from automation.credentials import CredentialStore, agent_password, password_variable
from automation.errors import ScenarioError
from automation.instance import Instance
from automation.osticket import db
from automation.osticket.directory import Directory
from automation.scenarios.agents import check_agents
from automation.scenarios.loader import LoadedScenario, check_names
from automation.scenarios.models import REQUESTER
from automation.seeding.models import SeedFile

PENDING = 0  # the id of a name the seed will create: checked now, looked up again once seeded


def with_seed(directory: Directory, seed: SeedFile) -> Directory:
    """The help desk's names as they will be once ``seed`` is applied."""
    def merged(current: dict[str, int], names: list[str]) -> dict[str, int]:
        return {**dict.fromkeys(names, PENDING), **current}

    return dataclasses.replace(
        directory,
        agents=merged(directory.agents, [a.username for a in seed.agents]),
        teams=merged(directory.teams, [t.name for t in seed.teams]),
        slas=merged(directory.slas, [s.name for s in seed.slas]),
        departments=merged(directory.departments, [d.key for d in seed.departments]
                           + [d.name for d in seed.departments if d.name not in directory.ambiguous_departments]),
        topics=merged(directory.topics, [t.name for t in seed.help_topics]),
    )


def check_before_seed(instance: Instance, loaded: LoadedScenario, seed: SeedFile, store: CredentialStore) -> None:
    """Raise `ScenarioError` (exit 2) naming every name the scenario uses that neither the database nor the seed
    file holds, and every acting agent the seed does not create who has no password; reads only."""
    conn = db.connect(instance)
    tables = db.Tables(instance.db.table_prefix)
    try:
        directory = with_seed(Directory.read(conn, tables), seed)
        check_names(loaded, directory)
        seeded = {a.username for a in seed.agents}
        # agents the seed writes are checked again once it has (the runner's own check)
        check_agents(conn, tables, loaded, directory, frozenset(a.casefold() for a in seeded), "nothing was run or seeded")
    finally:
        conn.close()
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
