"""Run records: what a run did (its id, its tickets, every step, the verdict), one JSON file per run in the
workspace's ``runs/`` folder, written as the run goes so that a failed run is recorded too."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from automation.errors import ConfigError
from automation.files import write_private
from automation.scenarios.ledger import Ledger
from automation.scenarios.verify import Verdict
from automation.workspace import Workspace


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)


@dataclass
class StepResult:
    ticket: str
    where: str  # file:line of the step in the scenario
    actor: str
    action: str
    detail: str
    seconds: float
    error: str = ""
    number: int = 0  # the step's place in its ticket: 0 for the creation, 1 for the first step
    name: str = ""  # its test name (`models.case_names`): the same from run to run
    # Why the step's error is not osTicket's answer: "environment" (osTicket down, the database gone) or the
    # signal that cut it off; JUnit then has an error where a refusal is a failure.
    errored: str = ""

    @property
    def label(self) -> str:
        """The name without its ticket key: ``john.doe note #2``."""
        return self.name.split(" / ", 1)[-1] if self.name else f"{self.actor} {self.action}"


@dataclass(frozen=True)
class SkippedStep:
    """A planned step (or creation) the run did not act, and why: an earlier step of its ticket failed, or the
    run stopped before it."""

    ticket: str
    name: str
    where: str
    reason: str


def failures(steps: Iterable[StepResult]) -> dict[str, str]:
    """Each ticket that failed during the run (its first step with an error) -> the failure, as the run's verdict
    and every later `verify` of its record give it: the ticket's expectations were not checked."""
    found: dict[str, str] = {}
    for step in steps:
        if step.error and step.ticket not in found:
            found[step.ticket] = (f"{step.where} step '{step.label}' failed in the run: {step.error}; the ticket's "
                                  "expectations were not checked")
    return found


@dataclass
class RunResult:
    run_id: str
    scenario: str
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    verdict: Verdict | None = None
    seconds: float = 0.0
    seed_summary: dict[str, int] | None = None
    # The newest ticket id before the run and after it: the run's tickets lie in (first, last]. Written as each
    # ticket is created; open (`id_range_open`) while a creation request may have made a ticket whose id the run
    # does not know yet: readers then look up to the newest ticket.
    id_range: tuple[int, int] | None = None
    id_range_open: bool = False
    ledger: Ledger | None = None
    # Tickets of the run in osTicket that it was never answered for, named (`verify.unconfirmed_line`).
    unconfirmed: list[str] = field(default_factory=list)
    kind: str = "scenario"  # or "load"
    plan: dict[str, int] = field(default_factory=dict)  # the scenario's ticket keys -> their number of steps
    pending: dict[str, str] = field(default_factory=dict)  # key -> number osTicket answered, id never read
    interrupted: str = ""  # the signal that stopped the run (SIGINT, SIGTERM)
    stopped: str = ""  # why the run ended before its verdict (a signal, osTicket down, --stop-on-failure)
    skipped: list[SkippedStep] = field(default_factory=list)  # every planned step not acted, with why

    @property
    def passed(self) -> bool:
        return (self.verdict is not None and self.verdict.passed and not any(s.error for s in self.steps)
                and not self.unconfirmed)

    def to_json(self) -> dict[str, Any]:
        data = {"run_id": self.run_id, "kind": self.kind, "started": started_at(self.run_id),
                "scenario": self.scenario, "passed": self.passed, "seconds": self.seconds,
                "tickets": self.tickets, "steps": [asdict(s) for s in self.steps], "seed": self.seed_summary,
                "id_range": list(self.id_range) if self.id_range else None, "id_range_open": self.id_range_open,
                "skipped_steps": [asdict(s) for s in self.skipped], "stopped": self.stopped or None,
                "unconfirmed": self.unconfirmed, "interrupted": bool(self.interrupted),
                "signal": self.interrupted or None}
        if self.plan:
            data["ticket_states"] = [state.to_dict() for state in self.ticket_states()]
        if self.ledger is not None:
            data["ledger"] = self.ledger.to_json()
        if self.verdict is not None:
            data["verification"] = {"passed": self.verdict.passed, "mismatches": self.verdict.mismatches(),
                                    "skipped": self.verdict.skipped(),
                                    "tickets": [t.to_dict() for t in self.verdict.tickets]}
        return data


    def ticket_created(self, key: str, number: str, ticket_id: int) -> None:
        self.tickets[key] = {"number": number, "ticket_id": ticket_id}
        self.pending.pop(key, None)
        if self.id_range is not None:
            self.id_range = (self.id_range[0], max(self.id_range[1], ticket_id))
            self.id_range_open = False

    def ticket_states(self) -> list[TicketState]:
        """Every ticket of the scenario, in its order, with how far the run got with it."""
        states = []
        for key, planned in self.plan.items():
            done = sum(1 for s in self.steps if s.ticket == key and s.number and not s.error)
            failed = next((s for s in self.steps if s.ticket == key and s.error), None)
            if key in self.tickets:
                ticket = self.tickets[key]
                state = "failed at a step" if failed else "confirmed"
                states.append(TicketState(key, state, str(ticket["number"]), int(ticket["ticket_id"]), done, planned))
            elif key in self.pending:
                states.append(TicketState(key, "created, not confirmed", self.pending[key], None, 0, planned))
            elif failed is not None:
                states.append(TicketState(key, "creation failed (it may exist: see unconfirmed)", "", None, 0, planned))
            else:
                states.append(TicketState(key, "not created", "", None, 0, planned))
        return states


@dataclass(frozen=True)
class TicketState:
    """How far a run got with one ticket of its scenario."""

    key: str
    state: str  # confirmed | failed at a step | created, not confirmed | creation failed … | not created
    number: str
    ticket_id: int | None
    steps_done: int
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """``ticket t1: confirmed #123456 (id 325), 2 of 3 steps done``"""
        ids = f" #{self.number}" if self.number else ""
        ids += f" (id {self.ticket_id})" if self.ticket_id is not None else ""
        return f"ticket {self.key}: {self.state}{ids}, {self.steps_done} of {self.steps} steps done"


def save(workspace: Workspace, result: RunResult) -> None:
    save_record(workspace, result.run_id, result.to_json())


def save_record(workspace: Workspace, run_id: str, data: dict[str, Any]) -> None:
    """Record a run (a scenario's or a load run's) in the workspace's ``runs/`` folder."""
    write_private(workspace.run_file(run_id), json.dumps(data, indent=2, default=str) + "\n")


def started_at(run_id: str) -> str:
    """When the run started, in UTC, as its id says (ISO 8601)."""
    try:
        return dt.datetime.strptime(run_id[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC).isoformat()
    except ValueError:
        return ""


@dataclass(frozen=True)
class RunSummary:
    """One line of ``ostops runs``."""

    run_id: str
    kind: str  # scenario | load
    scenario: str
    started: str
    tickets: int
    verdict: str  # passed | failed | interrupted | unreadable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(run_id: str, data: object) -> RunSummary:
    if not isinstance(data, dict):
        return RunSummary(run_id, "?", "", started_at(run_id), 0, "unreadable")
    tickets = data.get("tickets")
    count = len(tickets) if isinstance(tickets, dict) else int(tickets) if isinstance(tickets, int) else 0
    if data.get("kind") == "load":
        count = int(data.get("created", count))
    return RunSummary(run_id, str(data.get("kind", "scenario")), str(data.get("scenario") or ""),
                      str(data.get("started") or started_at(run_id)), count,
                      "passed" if data.get("passed") else "interrupted" if data.get("interrupted") else "failed")


def run_summaries(workspace: Workspace) -> list[RunSummary]:
    """Every recorded run, oldest first; a record that cannot be read is listed as unreadable."""
    found = []
    for path in workspace.run_files():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        found.append(summarize(path.stem, data))
    return found


def latest_run_of(workspace: Workspace, scenario: Path) -> str | None:
    """The latest recorded run of this scenario file: the same file, else (a run started from another folder)
    a file of the same name."""
    runs = [r for r in run_summaries(workspace) if r.kind == "scenario" and r.scenario]
    for same in (lambda p: p.resolve() == scenario.resolve(), lambda p: p.name == scenario.name):
        found = [r.run_id for r in runs if same(Path(r.scenario))]
        if found:
            return found[-1]
    return None


def forget(workspace: Workspace, run_id: str) -> bool:
    """Remove a run's record; False when there was none."""
    try:
        workspace.run_file(run_id).unlink()
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class RunRecord:
    """What `verify`, `report` and reconciliation need from a recorded run: its tickets' ids, its id range
    (read by primary key) and its ledger."""

    run_id: str
    ticket_ids: dict[str, int]
    id_range: tuple[int, int | None] | None  # an open end (None): up to the newest ticket
    ledger: Ledger | None
    ticket_numbers: dict[str, str] = field(default_factory=dict)  # key -> the number osTicket gave
    planned: tuple[str, ...] = ()  # the keys the run set out to act (fewer than the scenario's with --only)
    scenario: str = ""  # the scenario file the run acted out, as it was given
    failed: dict[str, str] = field(default_factory=dict)  # keys of the tickets that failed at a step (`failures`)

    def of_another_scenario(self, scenario: Path) -> bool:
        """The run acted out another scenario file than ``scenario`` (the same file, or one of the same name
        when the run was started from another folder, is this one)."""
        if not self.scenario:
            return False
        recorded = Path(self.scenario)
        return recorded.resolve() != scenario.resolve() and recorded.name != scenario.name


def load_record(workspace: Workspace, run_id: str) -> RunRecord | None:
    """The run's record; None when there is none (the subject tag is then the fallback). A record that cannot
    be read is bad input, named."""
    path = workspace.run_file(run_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the run record ({exc}); move it away to verify by subject tag") from exc
    try:
        data = json.loads(text)
        ids = {str(k): int(v["ticket_id"]) for k, v in (data.get("tickets") or {}).items()
               if v.get("ticket_id") is not None}
        span = data.get("id_range")
        id_range: tuple[int, int | None] | None = None
        if span:
            # An open range (the run stopped while a creation may have made a ticket it never learnt the id of)
            # reads up to the newest ticket. A record written before ranges grew with each ticket may end below
            # its own tickets: its end is at least the newest of them.
            end = None if data.get("id_range_open") else max([int(span[1]), *ids.values()])
            id_range = (int(span[0]), end)
        ledger = Ledger.from_json(data["ledger"]) if data.get("ledger") else None
        numbers = {str(k): str(v["number"]) for k, v in (data.get("tickets") or {}).items() if v.get("number")}
        planned = tuple(str(state["key"]) for state in data.get("ticket_states") or [])
        failed = failures(StepResult(str(s.get("ticket", "")), str(s.get("where", "")), str(s.get("actor", "")),
                                     str(s.get("action", "")), "", 0.0, str(s["error"]), name=str(s.get("name", "")))
                          for s in data.get("steps") or [] if isinstance(s, dict) and s.get("error"))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{path}: not a run record ({type(exc).__name__}: {exc}); move it away to verify by "
                          "subject tag") from None
    return RunRecord(run_id, ids, id_range, ledger, numbers, planned, str(data.get("scenario") or ""), failed)


def recorded_runs(workspace: Workspace) -> list[str]:
    """The run ids recorded in this workspace, oldest first."""
    return [record.stem for record in workspace.run_files()]


def latest_run_id(workspace: Workspace) -> str | None:
    runs = recorded_runs(workspace)
    return runs[-1] if runs else None


def unknown_run(run_id: str, base_url: str, workspace: Workspace) -> str:
    """Why a run id found no tickets, and which ids would."""
    known = recorded_runs(workspace)[-5:]
    hint = f"recent runs recorded here: {', '.join(reversed(known))}" if known else "no runs are recorded here"
    return f"run {run_id}: no tickets of this run in osTicket at {base_url}; {hint}"
