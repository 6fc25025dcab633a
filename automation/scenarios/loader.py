"""Read a scenario file: schema first, then every name it uses checked against the help desk."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from automation.errors import ScenarioError
from automation.osticket.directory import Directory
from automation.osticket.text import Kind, formula, unkept
from automation.scenarios import attachments
from automation.scenarios.channels import channel_problems
from automation.scenarios.models import AGENT_ONLY, REQUESTER, SYSTEM, Scenario
from automation.suggest import by_line, count, did_you_mean
from automation.yamlfile import Located, YamlFileError, gc_paused, load, parse_model


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    located: Located

    @property
    def path(self) -> Path:
        return self.located.file

    def step_where(self, ticket_index: int, step_index: int) -> str:
        return f"{self.path}:{self.located.line(('tickets', ticket_index, 'steps', step_index))}"

    def seed_path(self) -> Path | None:
        if self.scenario.seed is None:
            return None
        return (self.path.parent / self.scenario.seed).resolve()


def select_tickets(loaded: LoadedScenario, keys: list[str]) -> LoadedScenario:
    """The scenario with only the tickets of these keys, in the file's order, every line still the file's own
    (``--only``); an unknown key is refused, naming the keys that exist."""
    known = [t.key for t in loaded.scenario.tickets]
    unknown = [k for k in keys if k not in known]
    if unknown or not keys:
        hint = did_you_mean(unknown[0], known) if unknown else ""
        missing = ", ".join(repr(k) for k in unknown) or "(none given)"
        raise ScenarioError(f"{loaded.path}: --only {','.join(keys)}: no ticket with the key {missing}{hint}; "
                            f"the scenario's keys are {', '.join(known)}")
    kept = [i for i, t in enumerate(loaded.scenario.tickets) if t.key in keys]
    new_index = {old: new for new, old in enumerate(kept)}
    lines: dict[tuple[str | int, ...], int] = {}
    for path, line in loaded.located.lines.items():
        if len(path) >= 2 and path[0] == "tickets" and isinstance(path[1], int):
            if path[1] in new_index:
                lines[("tickets", new_index[path[1]], *path[2:])] = line
        else:
            lines[path] = line
    scenario = loaded.scenario.model_copy(update={"tickets": [loaded.scenario.tickets[i] for i in kept]})
    located = replace(loaded.located, lines=lines)
    return LoadedScenario(scenario, located)


def load_scenario(path: Path) -> LoadedScenario:
    with gc_paused():
        return _load_scenario(path)


def _load_scenario(path: Path) -> LoadedScenario:
    try:
        located = load(path)
    except YamlFileError as exc:
        # One problem with the whole file (unreadable, not UTF-8, a syntax error) is the message itself; problems
        # inside the document (tags, keys, aliases, duplicates) are listed like schema problems.
        if exc.problems == [exc.message]:
            raise ScenarioError(exc.message, exc.problems) from None
        raise ScenarioError(f"{path}: {count(len(exc.problems))}; nothing was run", exc.problems) from None
    if located.data is None and not located.problems:
        raise ScenarioError(f"{path}:1: the file holds no scenario (it is empty, or only comments); write its "
                            "`name:` and its `tickets:` (seed/scenarios/lab.yaml is an example)")
    scenario, problems = parse_model(located, Scenario)
    if scenario is None:
        raise ScenarioError(f"{path}: {count(len(problems))}; nothing was run", problems)
    problems = []
    for t_index, ticket in enumerate(scenario.tickets):
        for s_index, step in enumerate(ticket.steps):
            if step.actor == REQUESTER and step.do in AGENT_ONLY:
                problems.append(f"{located.where(('tickets', t_index, 'steps', s_index, 'as'))}: "
                                f"'{step.do}' is an agent's action; the requester can only reply")
    problems += duplicate_keys(scenario, located)
    problems += duplicate_step_ids(scenario, located)
    problems += channel_problems(scenario, located)
    problems += text_problems(scenario, located)
    problems += attachments.problems(scenario, located, path.parent)
    loaded = LoadedScenario(scenario, located)
    seed = loaded.seed_path()
    if seed is not None and not seed.is_file():
        problems.append(f"{located.where(('seed',))}: seed file {seed} does not exist (a relative `seed:` is "
                        "read from the scenario file's folder)")
    if problems:
        raise ScenarioError(f"{path}: {count(len(problems))}; nothing was run", by_line(problems))
    return loaded


def duplicate_keys(scenario: Scenario, located: Located) -> list[str]:
    """Each ticket whose key an earlier ticket has, at its own line, naming the first one's (linear: a large file
    with list.count per key was quadratic)."""
    first: dict[str, int] = {}
    problems = []
    for index, ticket in enumerate(scenario.tickets):
        if ticket.key not in first:
            first[ticket.key] = index
            continue
        earlier = located.line(("tickets", first[ticket.key], "key"))
        problems.append(f"{located.where(('tickets', index, 'key'))}: duplicate ticket key {ticket.key!r}: ticket "
                        f"{first[ticket.key] + 1} at line {earlier} has it already; give each ticket a key of its own")
    return problems


def duplicate_step_ids(scenario: Scenario, located: Located) -> list[str]:
    """Each step whose `id:` an earlier step of the same ticket has, at its own line, naming the first one's: two
    steps of one ticket would have one test name."""
    problems = []
    for ti, ticket in enumerate(scenario.tickets):
        first: dict[str, int] = {}
        for si, step in enumerate(ticket.steps):
            if step.id is None:
                continue
            if step.id not in first:
                first[step.id] = si
                continue
            earlier = located.line(("tickets", ti, "steps", first[step.id], "id"))
            problems.append(f"{located.where(('tickets', ti, 'steps', si, 'id'))}: duplicate step id {step.id!r} in "
                            f"ticket {ticket.key!r}: step {first[step.id] + 1} at line {earlier} has it already; give "
                            "each step of a ticket an id of its own (ids may repeat in other tickets)")
    return problems


def text_problems(scenario: Scenario, located: Located) -> list[str]:
    """Every text the run gives osTicket that osTicket 1.18.1 would not keep as written (`unkept`), by file:line:
    the verdict on it could not hold."""
    problems: list[str] = []
    for ti, ticket in enumerate(scenario.tickets):
        texts: list[tuple[tuple[str | int, ...], str, Kind]] = [
            (("subject",), ticket.subject, "subject"), (("message",), ticket.message, "body"),
            (("requester", "name"), ticket.requester.name, "name")]
        for si, step in enumerate(ticket.steps):
            step_texts: tuple[tuple[str, Kind], ...] = (("text", "body"), ("comment", "body"), ("title", "title"),
                                                         ("name", "name"))
            for attr, kind in step_texts:
                value = getattr(step, attr, None)
                if value and isinstance(value, str):
                    texts.append((("steps", si, attr), value, kind))
        for path, value, kind in texts:
            reason = unkept(value, kind)
            if reason is None and kind in ("subject", "name") and (ticket.channel != "email" or path[0] == "steps"):
                # the run's tag follows a subject after a space
                reason = formula(value + " [tag]" if kind == "subject" else value, kind)
            if reason is not None:
                problems.append(f"{located.where(('tickets', ti, *path))}: {reason}")
    return problems


def check_names(loaded: LoadedScenario, directory: Directory, after: str = "nothing was run") -> None:
    """Every agent, team, SLA, department, topic, status and priority the scenario names must exist in the
    help desk, and a department named by its bare name must be the only one of that name (the second round of
    checks, once the file's shape is right)."""
    problems: list[str] = []
    ambiguous = 0
    where = loaded.located.where
    named: set[tuple[str, str]] = set()
    unknown: dict[tuple[str, str], list[str]] = {}

    def need(kind: str, value: str | None, table: dict[str, int], path: tuple[str | int, ...]) -> None:
        nonlocal ambiguous
        if value is not None and value != "none":
            named.add((kind, value))
        if kind == "department" and value in directory.ambiguous_departments:
            paths = directory.ambiguous_departments[value]
            ambiguous += 1
            problems.append(f"{where(path)}: ambiguous department {value!r}: {len(paths)} departments have that "
                            f"name ({', '.join(repr(p) for p in paths)}); name one by its path")
        elif value is not None and value != "none" and value not in table:
            known = ", ".join(sorted(table)[:12])
            problem = f"{where(path)}: unknown {kind} {value!r}{did_you_mean(value, table)} (known: {known})"
            problems.append(problem)
            unknown.setdefault((kind, value), []).append(problem)

    for ti, ticket in enumerate(loaded.scenario.tickets):
        need("help topic", ticket.topic, directory.topics, ("tickets", ti, "topic"))
        need("priority", ticket.priority, directory.priorities, ("tickets", ti, "priority"))
        need("priority", ticket.expect.priority, directory.priorities, ("tickets", ti, "expect", "priority"))
        for si, step in enumerate(ticket.steps):
            base = ("tickets", ti, "steps", si)
            if step.actor != REQUESTER:
                need("agent", step.actor, directory.agents, (*base, "as"))
            for attr, kind, table in (("agent", "agent", directory.agents), ("team", "team", directory.teams),
                                      ("sla", "SLA", directory.slas),
                                      ("department", "department", directory.departments),
                                      ("status", "status", directory.statuses),
                                      ("priority", "priority", directory.priorities)):
                need(kind, getattr(step, attr, None), table, (*base, attr))
        exp = ticket.expect
        need("agent", exp.agent, directory.agents, ("tickets", ti, "expect", "agent"))
        need("team", exp.team, directory.teams, ("tickets", ti, "expect", "team"))
        need("SLA", exp.sla, directory.slas, ("tickets", ti, "expect", "sla"))
        need("department", exp.department, directory.departments, ("tickets", ti, "expect", "department"))
        for list_name in ("entries_in_order", "entries"):
            for ei, entry in enumerate(getattr(exp, list_name)):
                if entry.by not in (None, REQUESTER, SYSTEM):
                    need("agent", entry.by, directory.agents, ("tickets", ti, "expect", list_name, ei, "by"))
    _seed_not_applied(loaded, named, unknown, after)
    if problems:
        kinds = [count(n, what) for n, what in ((len(problems) - ambiguous, "unknown name"),
                                                 (ambiguous, "ambiguous name")) if n]
        raise ScenarioError(f"{loaded.path}: {' and '.join(kinds)}; {after}", by_line(problems))


def _seed_not_applied(loaded: LoadedScenario, named: set[tuple[str, str]],
                      unknown: dict[tuple[str, str], list[str]], after: str) -> None:
    """One message instead of a line per name when most names the scenario uses are unknown here and its
    ``seed:`` file defines them: the seed was not applied on this instance."""
    seed_path = loaded.seed_path()
    if seed_path is None or not unknown or len(unknown) * 2 <= len(named):
        return
    from automation.errors import SeedError
    from automation.seeding.loader import load_seed

    try:
        seed = load_seed(seed_path)
    except SeedError:
        return  # the names are listed one by one; --seed would report the seed's own problems
    defines = {"agent": {a.username for a in seed.agents}, "team": {t.name for t in seed.teams},
               "SLA": {s.name for s in seed.slas}, "help topic": {t.name for t in seed.help_topics},
               "department": {d.name for d in seed.departments} | {d.key for d in seed.departments}}
    in_seed = [name for name in unknown if name[1] in defines.get(name[0], set())]
    if len(in_seed) * 2 <= len(unknown):
        return
    others = [problem for name, lines in unknown.items() if name not in in_seed for problem in lines]
    examples = ", ".join(f"{kind} {value!r}" for kind, value in sorted(in_seed)[:3])
    raise ScenarioError(f"{loaded.located.where(('seed',))}: the seed {seed_path} is not applied on this instance: "
                        f"run with --seed ({count(len(in_seed), 'name')} it defines are unknown here, e.g. "
                        f"{examples}); {after}", by_line(others))


def seed_password_envs(loaded: LoadedScenario) -> dict[str, str]:
    """The variables the scenario's seed file names for its agents' passwords (``password_env``)."""
    seed_path = loaded.seed_path()
    if seed_path is None:
        return {}
    from automation.seeding.loader import load_seed

    return {a.username: a.password_env for a in load_seed(seed_path).agents if a.password_env}
