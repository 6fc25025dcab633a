"""YAML → SeedFile, with a line number for every path so that each problem reads ``file:line path: message``.

All problems are collected and raised together as one SeedError (exit 2); nothing is written.
References that the file cannot resolve on its own (an agent, SLA or department that may already exist in
osTicket, roles, schedules, priorities) are checked by the planner against the database, in the same format.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from automation import yamlfile
from automation.errors import SeedError
from automation.seeding.models import DEPT_SEPARATOR, SeedFile
from automation.suggest import by_line, count


def load_seed(path: Path | str) -> SeedFile:
    """Read ``path`` the way scenario files are read (``yamlfile.load``), so both report the same problems."""
    path = Path(path)
    with yamlfile.gc_paused():
        try:
            located = yamlfile.load(path)
        except yamlfile.YamlFileError as exc:
            raise _fail(str(path), exc.problems) from None
        return _from_located(located, str(path))


def parse_seed(text: str, source: str = "<seed>") -> SeedFile:
    try:
        located = yamlfile.parse(text, source)
    except yamlfile.YamlFileError as exc:
        raise _fail(source, exc.problems) from None
    return _from_located(located, source)


def _from_located(located: yamlfile.Located, source: str) -> SeedFile:
    lines = {yamlfile.format_path(path): line for path, line in located.lines.items()}
    data = {} if located.data is None else located.data
    if not isinstance(data, dict):
        raise _fail(source, [f"{source}:1: the seed file must be a mapping (slas:, agents:, ...)"])
    try:
        seed = SeedFile.model_validate(data)
    except ValidationError as exc:
        probe = SeedFile()
        probe.locate(source, lines)
        raise _fail(source, located.problems + [_pydantic_problem(probe, err) for err in exc.errors()]) from exc
    seed.locate(source, lines)
    if located.problems:
        raise _fail(source, located.problems + check_file(seed))
    if seed.is_empty():
        raise SeedError(f"{source}: nothing to seed: the file lists no settings, SLAs, departments, agents, teams, "
                        "help topics, API keys or users (is it the right file?)")
    problems = located.problems + check_file(seed)
    if problems:
        raise _fail(source, problems)
    return seed


def _fail(source: str, problems: list[str]) -> SeedError:
    return SeedError(f"{source}: {count(len(problems))}", problems=by_line(problems))


def _pydantic_problem(seed: SeedFile, err: Any) -> str:
    return f"{seed.where(yamlfile.format_path(err['loc']))}: {yamlfile.pydantic_message(err, SeedFile)}"


def _fold(value: str) -> str:
    return value.casefold()


def check_file(seed: SeedFile) -> list[str]:
    """Problems visible from the file alone: duplicate natural keys, self-contradictions."""
    problems: list[str] = []

    def dupes(items: Iterable[tuple[str, str]], what: str) -> None:
        first: dict[str, str] = {}
        for path, key in items:
            folded = _fold(key)
            if folded in first:
                problems.append(f"{seed.where(path)}: duplicate {what} {key!r} (first at {first[folded]})")
            else:
                first[folded] = path

    dupes(((f"slas[{i}].name", s.name) for i, s in enumerate(seed.slas)), "SLA")
    dupes(((f"departments[{i}].name", d.key) for i, d in enumerate(seed.departments)), "department")
    dupes(((f"agents[{i}].username", a.username) for i, a in enumerate(seed.agents)), "username")
    dupes(((f"agents[{i}].email", a.email) for i, a in enumerate(seed.agents)), "agent email")
    dupes(((f"teams[{i}].name", t.name) for i, t in enumerate(seed.teams)), "team")
    dupes(((f"help_topics[{i}].name", t.name) for i, t in enumerate(seed.help_topics)), "help topic")
    dupes(((f"api_keys[{i}].ip", k.ip) for i, k in enumerate(seed.api_keys)), "API key IP")
    dupes(((f"users[{i}].email", u.email) for i, u in enumerate(seed.users)), "user email")
    agent_emails = {_fold(a.email) for a in seed.agents}
    for i, user in enumerate(seed.users):
        if _fold(user.email) in agent_emails:
            problems.append(f"{seed.where(f'users[{i}].email')}: {user.email!r} is also an agent's e-mail")
    for i, agent in enumerate(seed.agents):
        seen: set[str] = set()
        for j, acc in enumerate(agent.access or []):
            path = f"agents[{i}].access[{j}].department"
            if _fold(acc.department) == _fold(agent.department):
                problems.append(f"{seed.where(path)}: {acc.department!r} is the agent's primary department "
                                "(extended access lists other departments)")
            elif _fold(acc.department) in seen:
                problems.append(f"{seed.where(path)}: department {acc.department!r} listed twice")
            seen.add(_fold(acc.department))
        dupes(((f"agents[{i}].teams[{j}]", t) for j, t in enumerate(agent.teams or [])), "team")
    for i, team in enumerate(seed.teams):
        dupes(((f"teams[{i}].members[{j}]", m) for j, m in enumerate(team.members or [])), "member")
    problems += department_cycles(seed)
    for i, topic in enumerate(seed.help_topics):
        if topic.parent and _fold(topic.parent) == _fold(topic.name):
            problems.append(f"{seed.where(f'help_topics[{i}].parent')}: a help topic cannot be its own parent")
    return problems


def department_cycles(seed: SeedFile) -> list[str]:
    """Departments whose parents lead back to themselves (``Lab IT`` under ``Path IT`` under ``Lab IT``), one
    problem per cycle. A parent is a path; a parent that is no department's path here is followed by its last
    name, which is how a cycle shows (no path can be written for a department inside one)."""
    depts = seed.departments
    keys = {_fold(d.key) for d in depts}
    by_name: dict[str, int] = {}
    for i, dept in enumerate(depts):
        by_name.setdefault(_fold(dept.name), i)
    problems: list[str] = []
    reported: set[frozenset[int]] = set()
    for i, dept in enumerate(depts):
        chain, probe = [i], dept
        while probe.parent and _fold(probe.parent) not in keys:
            nxt = by_name.get(_fold(probe.parent.rsplit(DEPT_SEPARATOR.strip(), 1)[-1].strip()))
            if nxt is None or (nxt in chain and nxt != i):
                break
            chain.append(nxt)
            if nxt == i:
                members = frozenset(chain)
                if members not in reported:
                    reported.add(members)
                    names = " → ".join(depts[j].name for j in chain)
                    problems.append(f"{seed.where(f'departments[{i}].parent')}: department parents form a cycle: "
                                    f"{names}; one of them must have another parent (or none)")
                break
            probe = depts[nxt]
    return problems
