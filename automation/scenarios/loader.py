"""Read a scenario file: schema first, then every name it uses checked against the help desk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automation.errors import ScenarioError
from automation.scenarios.models import AGENT_ONLY, REQUESTER, Scenario
from automation.yamlfile import Located, YamlFileError, load, parse_model


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


def load_scenario(path: Path) -> LoadedScenario:
    try:
        located = load(path)
    except YamlFileError as exc:
        # One problem with the whole file (unreadable, not UTF-8, a syntax error) is the message itself; problems
        # inside the document (tags, keys, aliases, duplicates) are listed like schema problems.
        if exc.problems == [exc.message]:
            raise ScenarioError(exc.message, exc.problems) from None
        raise ScenarioError(f"{path}: {len(exc.problems)} problem(s); nothing was run", exc.problems) from None
    scenario, problems = parse_model(located, Scenario)
    if scenario is None:
        raise ScenarioError(f"{path}: {len(problems)} problem(s); nothing was run", problems)
    problems = []
    for t_index, ticket in enumerate(scenario.tickets):
        for s_index, step in enumerate(ticket.steps):
            if step.actor == REQUESTER and step.do in AGENT_ONLY:
                problems.append(f"{located.where(('tickets', t_index, 'steps', s_index, 'as'))}: "
                                f"'{step.do}' is an agent's action; the requester can only reply")
    loaded = LoadedScenario(scenario, located)
    seed = loaded.seed_path()
    if seed is not None and not seed.is_file():
        problems.append(f"{located.where(('seed',))}: seed file {seed} does not exist (a relative `seed:` is "
                        "read from the scenario file's folder)")
    if problems:
        raise ScenarioError(f"{path}: {len(problems)} problem(s); nothing was run", problems)
    return loaded
