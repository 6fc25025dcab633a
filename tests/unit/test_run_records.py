"""Run records: `ostops runs` lists scenario and load runs; `verify` finds the latest run of a scenario."""

from __future__ import annotations

import json
import os
from pathlib import Path

from automation.scenarios.record import RunResult, latest_run_of, run_summaries, save, save_record, started_at
from automation.workspace import Workspace


def test_runs_of_both_kinds_are_listed_oldest_first(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "instance.json")
    scenario = tmp_path / "lab.yaml"
    first = RunResult("20260101090000-aaaa", str(scenario), tickets={"a": {}, "b": {}})
    save(workspace, first)
    save_record(workspace, "20260101100000-bbbb", {"kind": "load", "passed": True, "tickets": 5, "created": 4,
                                                   "scenario": ""})
    (workspace.runs_dir / "20260101110000-cccc.json").write_text("{not json")
    for i, path in enumerate(sorted(workspace.runs_dir.glob("*.json"))):
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    runs = run_summaries(workspace)
    assert [(r.run_id, r.kind, r.tickets, r.verdict) for r in runs] == [
        ("20260101090000-aaaa", "scenario", 2, "failed"),  # no verdict recorded
        ("20260101100000-bbbb", "load", 4, "passed"),
        ("20260101110000-cccc", "?", 0, "unreadable"),
    ]
    assert runs[0].started == "2026-01-01T09:00:00+00:00"
    assert json.loads(workspace.run_file(first.run_id).read_text())["kind"] == "scenario"


def test_latest_run_of_a_scenario_skips_other_scenarios_and_load_runs(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "instance.json")
    lab, other = tmp_path / "lab.yaml", tmp_path / "other.yaml"
    for stamp, (run_id, scenario) in enumerate([("r1", lab), ("r2", other), ("r3", lab), ("r4", other)]):
        save(workspace, RunResult(run_id, str(scenario)))
        os.utime(workspace.run_file(run_id), (2_000_000 + stamp, 2_000_000 + stamp))
    save_record(workspace, "r5", {"kind": "load", "scenario": str(lab)})
    assert latest_run_of(workspace, lab) == "r3"
    assert latest_run_of(workspace, Path("elsewhere/other.yaml")) == "r4"  # same name, another folder
    assert latest_run_of(workspace, tmp_path / "none.yaml") is None


def test_started_at_reads_the_run_id() -> None:
    assert started_at("20261127150543-f51f") == "2026-11-27T15:05:43+00:00"
    assert started_at("garbage") == ""
