"""Issue 19: a run record that is always usable. MariaDB killed, php-fpm killed, SIGINT or SIGTERM during `ostops
run`: `report --run` and `verify --run` name every ticket of the run, and the --json and --junit files exist
and say how far the run got (interrupted, with every ticket's state, for the signals; exit 130 / 143)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.local import manager
from automation.scenarios.record import load_record
from automation.workspace import Workspace
from tests.conftest import LocalOsTicket, bring_up
from tests.helpers.osticket import REPO, ostops
from tests.helpers.processes import (
    finish,
    kill_fpm_workers_while_running,
    last_id,
    pid_of,
    start,
    tickets_in_db,
    wait_for_tickets,
)

pytestmark = pytest.mark.e2e

NUMBER = re.compile(r"#(\d{5,})")


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """Its own instance: these tests kill its servers."""
    yield from bring_up("ostops-interrupted-")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


@pytest.fixture(autouse=True)
def servers_back(osticket: Any) -> Iterator[None]:
    """Whatever a test killed or froze runs again after it."""
    yield
    with contextlib.suppress(ProcessLookupError, KeyError):
        os.kill(pid_of(osticket, "mariadb"), signal.SIGCONT)
    manager.up(osticket.base)


def scenario_file(folder: Path, tickets: int = 12) -> Path:
    """Text as people write it: quotes, ampersands, angle brackets, accents (JSON strings are YAML); `<` only
    where osTicket keeps it (README: Text as osTicket keeps it)."""
    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    title, note = q('Triage "pumps" & < library'), q('Checked the pumps\' library: "v2.1" & <= v2.0 — à revoir.')
    body = "\n".join(f"""  - key: pump-{i}
    requester: {{name: {q(f"Zoë Ångström-Núñez {i}")}, email: zoe.{i}@example.com}}
    subject: {q(f'Pumps on 4B show "drug library missing" & < 5 min alarm — café {i}')}
    message: {q(f'Three pumps on 4B show "drug library missing" after the update & <3 nothing helps. Ré-essayé {i}.')}
    steps:
      - as: john.doe
        do: note
        title: {title}
        text: {note}
      - as: john.doe
        do: change_sla
        sla: Sev-B""" for i in range(tickets))
    path = folder / "interrupted.yaml"
    name = q('Ward 4B "pumps" & < library')
    path.write_text(f"name: {name}\nreview: {{open_tickets: null}}\n"
                    f"tickets:\n{body}\n", encoding="utf-8")
    return path


def every_ticket_named(osticket: Any, scenario: Path, run_id: str, in_db: set[str]) -> None:
    """`report --run` lists exactly the run's tickets; `verify --run` names each of them (a verdict, not
    "no tickets of this run": the run stopped half-way, so expectations fail, exit 1)."""
    assert in_db, "the run created no ticket"
    report = ostops(osticket, "report", "--run", run_id, "--format", "json")
    assert report.returncode == 0, report.stdout + report.stderr
    assert {t["number"] for t in json.loads(report.stdout)["tickets"]} == in_db
    verify = ostops(osticket, "verify", str(scenario), "--run", run_id, "--json")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    verdict = json.loads(verify.stdout)
    named = {t["number"] for t in verdict["tickets"] if t["number"]}
    named |= {m for line in verdict["mismatches"] for m in NUMBER.findall(line)}
    assert in_db <= named, (sorted(in_db - named), verdict["mismatches"])


def outputs(folder: Path) -> tuple[dict[str, Any], ET.Element]:
    document = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    suite = ET.parse(folder / "run.xml").getroot()
    return document, suite


def skipped_steps(suite: ET.Element) -> list[str]:
    return [case.get("name", "") for case in suite.iter("testcase") if case.find("skipped") is not None]


def run_args(scenario: Path, folder: Path) -> list[str]:
    return ["run", str(scenario), "--json-file", str(folder / "run.json"), "--junit", str(folder / "run.xml")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_lets_the_request_finish_then_writes_everything(osticket: Any, tmp_path: Path,
                                                                  signum: signal.Signals) -> None:
    scenario = scenario_file(tmp_path)
    after = last_id(osticket)
    proc = start(osticket, *run_args(scenario, tmp_path))
    wait_for_tickets(osticket, proc, after, 3)
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = finish(proc)
    elapsed = time.monotonic() - sent
    print(f"{signum.name} during run: exit {proc.returncode} after {elapsed:.2f} s")
    assert proc.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr, stderr
    document, suite = outputs(tmp_path)
    run_id = document["run_id"]
    assert (document["interrupted"], document["signal"], document["passed"]) == (True, signum.name, False)
    in_db = tickets_in_db(osticket, run_id, after)
    states = {s["key"]: s for s in document["ticket_states"]}
    assert list(states) == [f"pump-{i}" for i in range(12)]
    # The request in flight was answered: every ticket in osTicket is confirmed, none is half-done.
    assert {s["number"] for s in states.values() if s["state"] == "confirmed"} == in_db
    assert {s["state"] for s in states.values()} <= {"confirmed", "not created"}
    assert document["unconfirmed"] == [] and not any(step["error"] for step in document["steps"])
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "interrupted", ET.tostring(suite, encoding="unicode")
    assert signum.name in error.get("message", "")
    assert in_db == set(NUMBER.findall(error.text or ""))
    assert "pump-11 / requester create" in skipped_steps(suite)
    for number in in_db:
        assert f"#{number}" in stderr  # named on the console too
    record = load_record(Workspace(osticket.instance_path), run_id)
    assert record is not None and set(record.ticket_numbers.values()) == in_db
    every_ticket_named(osticket, scenario, run_id, in_db)


def test_mariadb_killed_during_a_run_leaves_a_record_that_reports_and_verifies(osticket: Any,
                                                                               tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    after = last_id(osticket)
    proc = start(osticket, *run_args(scenario, tmp_path))
    wait_for_tickets(osticket, proc, after, 3)
    os.kill(pid_of(osticket, "mariadb"), signal.SIGKILL)
    stdout, stderr = finish(proc)
    assert proc.returncode == 4, stdout + stderr
    manager.up(osticket.base)
    document, suite = outputs(tmp_path)
    run_id = document["run_id"]
    in_db = tickets_in_db(osticket, run_id, after)
    every_ticket_named(osticket, scenario, run_id, in_db)  # was: exit 2 "no tickets of this run in osTicket"
    named = {s["number"] for s in document["ticket_states"] if s["number"]}
    assert named <= in_db  # the files name what the run knew; the database may hold one more, half-written
    assert document["interrupted"] is False and any(step["error"] for step in document["steps"])
    assert "pump-11 / requester create" in skipped_steps(suite)


def test_php_fpm_killed_during_a_run_leaves_a_record_that_reports_and_verifies(osticket: Any,
                                                                               tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    after = last_id(osticket)
    master = pid_of(osticket, "php-fpm")
    proc = start(osticket, *run_args(scenario, tmp_path))
    wait_for_tickets(osticket, proc, after, 3)
    kill_fpm_workers_while_running(master, proc)
    stdout, stderr = finish(proc)
    assert proc.returncode == 4, stdout + stderr
    manager.up(osticket.base)
    document, suite = outputs(tmp_path)
    run_id = document["run_id"]
    in_db = tickets_in_db(osticket, run_id, after)
    every_ticket_named(osticket, scenario, run_id, in_db)
    named = {s["number"] for s in document["ticket_states"] if s["number"]}
    named |= {m for line in document["unconfirmed"] for m in NUMBER.findall(line)}
    assert named == in_db, (sorted(in_db - named), document["unconfirmed"])
    assert "pump-11 / requester create" in skipped_steps(suite)


def test_sigterm_with_mariadb_frozen_stops_within_the_grace(osticket: Any, tmp_path: Path) -> None:
    """The request in flight never ends (its database is frozen): SIGTERM waits the grace (5 s), then stops
    the run there and writes everything; the ticket it may have made is found once the database answers."""
    scenario = scenario_file(tmp_path)
    after = last_id(osticket)
    proc = start(osticket, *run_args(scenario, tmp_path))
    wait_for_tickets(osticket, proc, after, 3)
    mariadb = pid_of(osticket, "mariadb")
    os.kill(mariadb, signal.SIGSTOP)
    try:
        time.sleep(1)  # the run is now waiting on the frozen database
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = finish(proc, timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        os.kill(mariadb, signal.SIGCONT)
    print(f"SIGTERM during run, MariaDB frozen: exit {proc.returncode} after {elapsed:.2f} s")
    assert proc.returncode == 143, stdout + stderr
    assert elapsed < 15, f"{elapsed:.1f} s from SIGTERM to exit"
    document, suite = outputs(tmp_path)
    assert (document["interrupted"], document["signal"]) == (True, "SIGTERM")
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "interrupted"
    run_id = document["run_id"]
    in_db = tickets_in_db(osticket, run_id, after)
    named = {s["number"] for s in document["ticket_states"] if s["number"]}
    assert named <= in_db
    every_ticket_named(osticket, scenario, run_id, in_db)
