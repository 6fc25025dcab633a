"""A help desk for the runner that lives in memory: ticket creation answers numbers (ids from 101), steps are
noted, the database reads are the tickets it made. Enough to run `ScenarioRunner.run` from preparation to
verdict without osTicket; a test makes a creation or a step fail, or a signal arrive, where it wants."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from automation.errors import DatabaseError
from automation.instance import DatabaseAccess, Instance, Login
from automation.osticket.text import normal
from automation.scenarios import runner as runner_module
from automation.scenarios.facts import Entry, TicketFacts
from automation.scenarios.models import REQUESTER, TicketSpec
from automation.scenarios.runner import ScenarioRunner
from automation.workspace import Workspace

BEFORE = 100  # the newest ticket id before the run
NOW = dt.datetime(2026, 12, 6, 12, 0, 0)


class Acting:
    """``on_create[i]``: called before the i-th creation request (from 0), may raise or signal; ``on_step[(key, n)]``:
    called when step n (from 1) of the ticket ``key`` is acted, may raise or signal."""

    def __init__(self, runner: ScenarioRunner, workspace: Workspace) -> None:
        self.runner = runner
        self.workspace = workspace
        self.created = 0
        self.attempts = 0
        self.seen: list[dict[str, Any]] = []  # the record on disk as each creation request goes out
        self.on_create: dict[int, Any] = {}
        self.on_step: dict[tuple[str, int], Any] = {}
        self.steps: list[int] = []
        self.tickets: dict[int, tuple[TicketSpec, str, list[Any]]] = {}  # id -> spec, number, steps acted

    def record(self) -> dict[str, Any]:
        [path] = self.workspace.runs_dir.glob("*.json")
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def create(self, spec: TicketSpec, subject: str, directory: Any) -> str:
        self.seen.append(self.record())
        action = self.on_create.get(self.attempts)
        self.attempts += 1
        if action is not None:
            action()
        self.created += 1
        number = f"{self.created:06d}"
        self.tickets[BEFORE + self.created] = (spec, number, [])
        return number

    def ticket_id(self, number: str) -> int:
        return BEFORE + int(number)

    def act_step(self, step: Any, ticket_id: int, number: str, spec: TicketSpec, *args: Any) -> str:
        self.steps.append(ticket_id)
        action = self.on_step.get((spec.key, spec.steps.index(step) + 1))
        if action is not None:
            action()
        self.tickets[ticket_id][2].append(step)
        return ""

    def facts(self, *args: Any) -> list[TicketFacts]:
        """The tickets as osTicket would hold them: what was acted on each (a closing `set_status` closes it)."""
        found = []
        for ticket_id, (spec, number, steps) in self.tickets.items():
            status = next((s.status for s in reversed(steps) if s.do == "set_status"), "Open")
            entries = [Entry("M", REQUESTER, NOW, ticket_id * 10, text=normal(spec.message))]
            entries += [Entry("N", s.actor, NOW, ticket_id * 10 + i + 1, title=normal(s.title), text=normal(s.text))
                        for i, s in enumerate(steps) if s.do == "note"]
            found.append(TicketFacts(
                ticket_id, number, spec.key, normal(spec.subject), status, "open" if status == "Open" else "closed",
                None, None, None, None, None, None, spec.requester.name, str(spec.requester.email), False, NOW,
                None if status == "Open" else NOW, None, entries, source="API"))
        return found


def acting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **runner_options: Any) -> Acting:
    """A runner on the in-memory help desk; ``runner_options`` go to `ScenarioRunner` (keep_going…)."""
    monkeypatch.setattr(runner_module.Directory, "read", classmethod(lambda cls, conn, tables: object()))
    monkeypatch.setattr(runner_module, "check_names", lambda loaded, directory: None)
    monkeypatch.setattr(runner_module, "check_agents", lambda *args, **kwargs: None)
    monkeypatch.setattr(ScenarioRunner, "log_in_agents", lambda self, loaded: None)
    monkeypatch.setattr(ScenarioRunner, "check_credentials", lambda self, loaded: None)
    monkeypatch.setattr(runner_module.db, "last_ticket_id", lambda conn, tables: BEFORE)

    def no_database(*args: Any) -> Any:
        raise DatabaseError("Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")

    monkeypatch.setattr(runner_module.db, "connect", no_database)
    instance = Instance(kind="local", url="http://127.0.0.1:9", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
                        admin=Login(username="admin", password=SecretStr("b")),
                        db=DatabaseAccess(host="127.0.0.1", name="osticket", user="osticket", password=SecretStr("c")))
    workspace = Workspace(tmp_path / "instance.json")
    runner = ScenarioRunner(instance, workspace, conn=object(), api=object(), **runner_options)  # type: ignore[arg-type]
    fake = Acting(runner, workspace)
    monkeypatch.setattr(runner.requesters, "create", fake.create)
    monkeypatch.setattr(runner, "_ticket_id", fake.ticket_id)
    monkeypatch.setattr(runner, "act_step", fake.act_step)
    # The verdict's reads: the tickets made, the database's clock, no SLA.
    monkeypatch.setattr(runner_module.run_facts, "read_run", fake.facts)
    monkeypatch.setattr(runner_module.run_facts, "read_slas", lambda *args: {})
    monkeypatch.setattr(runner_module.db, "server_now", lambda conn: NOW)
    return fake
