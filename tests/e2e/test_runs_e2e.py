"""`ostops runs`, `verify` of the latest run, and `ostops purge --run ID` on a real osTicket."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0


def run_lab(osticket: Any) -> str:
    result = ostops(osticket, "run", str(LAB))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


def rows_of(osticket: Any, run_id: str) -> dict[str, int]:
    """How many rows of each table osTicket's ticket delete touches belong to the run's tickets."""
    ids = [r["ticket_id"] for r in query(osticket, "SELECT ticket_id FROM ost_ticket__cdata WHERE subject LIKE %s",
                                          [f"%[ostops {run_id} %"])]
    if not ids:
        ids = [-1]
    marks = ", ".join(["%s"] * len(ids))
    counts = {}
    for name, sql in {
        "ticket": f"SELECT COUNT(*) AS n FROM ost_ticket WHERE ticket_id IN ({marks})",
        "thread": f"SELECT COUNT(*) AS n FROM ost_thread WHERE object_type = 'T' AND object_id IN ({marks})",
        "form_entry": f"SELECT COUNT(*) AS n FROM ost_form_entry WHERE object_type = 'T' AND object_id IN ({marks})",
    }.items():
        counts[name] = query(osticket, sql, ids)[0]["n"]
    return counts


def test_two_runs_purge_one_the_other_still_verifies(osticket: Any) -> None:
    first, second = run_lab(osticket), run_lab(osticket)
    listed = json.loads(ostops(osticket, "runs", "--json").stdout)
    assert listed["command"] == "runs" and listed["ok"] is True
    by_id = {run["run_id"]: run for run in listed["runs"]}
    assert by_id[first]["tickets"] == by_id[second]["tickets"] == 3
    assert by_id[first]["verdict"] == "passed" and by_id[first]["kind"] == "scenario"
    assert by_id[first]["started"].endswith("+00:00")
    assert [r["run_id"] for r in listed["runs"]].index(first) < [r["run_id"] for r in listed["runs"]].index(second)
    # verify without --run takes the latest run of this scenario
    latest = ostops(osticket, "verify", str(LAB))
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert f"run {second}: every expectation holds" in latest.stdout

    thread_entries = query(osticket, "SELECT COUNT(*) AS n FROM ost_thread_entry")[0]["n"]
    before = rows_of(osticket, first)
    assert before == {"ticket": 3, "thread": 3, "form_entry": 3}
    refused = ostops(osticket, "purge", "--run", first)  # no terminal, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--yes" in refused.stderr
    assert rows_of(osticket, first) == before

    purged = ostops(osticket, "purge", "--run", first, "--yes")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert f"run {first}: 3 ticket(s) deleted" in purged.stdout
    assert rows_of(osticket, first) == {"ticket": 0, "thread": 0, "form_entry": 0}
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_thread_entry")[0]["n"] < thread_entries
    orphans = query(osticket, "SELECT COUNT(*) AS n FROM ost_thread_entry e LEFT JOIN ost_thread th "
                              "ON th.id = e.thread_id WHERE th.id IS NULL")[0]["n"]
    assert orphans == 0
    deleted_events = query(osticket, "SELECT COUNT(*) AS n FROM ost_thread_event te JOIN ost_event ev "
                                     "ON ev.id = te.event_id WHERE ev.name = 'deleted'")[0]["n"]
    assert deleted_events >= 3

    other = ostops(osticket, "verify", str(LAB), "--run", second)
    assert other.returncode == 0, other.stdout + other.stderr
    assert rows_of(osticket, second) == {"ticket": 3, "thread": 3, "form_entry": 3}
    runs_after = {r["run_id"] for r in json.loads(ostops(osticket, "runs", "--json").stdout)["runs"]}
    assert first not in runs_after and second in runs_after
    again = ostops(osticket, "purge", "--run", first, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr  # idempotent: nothing left is not an error
    assert "nothing to delete" in again.stdout


def test_load_runs_are_recorded(osticket: Any) -> None:
    result = ostops(osticket, "load", "--tickets", "3", "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    runs = {r["run_id"]: r for r in json.loads(ostops(osticket, "runs", "--json").stdout)["runs"]}
    assert runs[run_id]["kind"] == "load"
    assert (runs[run_id]["tickets"], runs[run_id]["verdict"]) == (3, "passed")
    table = ostops(osticket, "runs")
    assert run_id in table.stdout and "load" in table.stdout
    assert ostops(osticket, "purge", "--run", run_id, "--yes").returncode == 0
    assert rows_of(osticket, run_id)["ticket"] == 0


def test_purge_refuses_a_run_id_that_is_not_one(osticket: Any, tmp_path: Path) -> None:
    result = ostops(osticket, "purge", "--run", "20%", "--yes")
    assert result.returncode == 2 and "not a run id" in result.stderr


def test_every_reporting_command_prints_the_one_json_shape(osticket: Any, tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    ran = ostops(osticket, "run", str(LAB), "--json-file", str(record))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run = json.loads(record.read_text())
    assert (run["command"], run["ok"], run["passed"]) == ("run", True, True)
    documents = {
        "seed": ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"), "--plan", "--json"),
        "verify": ostops(osticket, "verify", str(LAB), "--run", run["run_id"], "--json"),
        "report": ostops(osticket, "report", "--run", run["run_id"], "--json"),
        "local status": ostops(osticket, "local", "status", "--json"),
        "load": ostops(osticket, "load", "--tickets", "2", "--json"),
        "runs": ostops(osticket, "runs", "--json"),
    }
    for command, result in documents.items():
        assert result.returncode == 0, (command, result.stdout + result.stderr)
        document = json.loads(result.stdout)
        assert (document["command"], document["ok"]) == (command, True), document
    assert json.loads(documents["verify"].stdout)["tickets"][0]["passed"] is True
    assert json.loads(documents["report"].stdout)["by_status"] == {"Closed": 3}
    query(osticket, "UPDATE ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id "
                    "SET t.sla_id = 1 WHERE cd.subject LIKE %s", [f"%[ostops {run['run_id']} online-banking-down]%"])
    failed = ostops(osticket, "verify", str(LAB), "--run", run["run_id"], "--json")
    assert failed.returncode == 1
    document = json.loads(failed.stdout)
    assert document["ok"] is False and any("sla" in m for m in document["mismatches"])
