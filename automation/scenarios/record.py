"""Run records: what a run did (its id, its tickets, every step, the verdict), one JSON file per run in the
workspace's ``runs/`` folder, written as the run goes so that a failed run is recorded too."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from automation.files import write_private
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


@dataclass
class RunResult:
    run_id: str
    scenario: str
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    verdict: Verdict | None = None
    seconds: float = 0.0
    seed_summary: dict[str, int] | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed and not any(s.error for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        data = {"run_id": self.run_id, "scenario": self.scenario, "passed": self.passed, "seconds": self.seconds,
                "tickets": self.tickets, "steps": [asdict(s) for s in self.steps], "seed": self.seed_summary}
        if self.verdict is not None:
            data["verification"] = {"passed": self.verdict.passed, "mismatches": self.verdict.mismatches()}
        return data


def save(workspace: Workspace, result: RunResult) -> None:
    write_private(workspace.run_file(result.run_id), json.dumps(result.to_json(), indent=2, default=str) + "\n")


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
