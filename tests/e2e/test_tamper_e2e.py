"""Issue 14: a run verified days later. Each tamper of osTicket's database after the run is caught by
`ostops verify`, and the difference is named in its output (the run record's ledger, read by primary key)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automation.scenarios.record import load_record
from automation.workspace import Workspace
from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")
KEY = "online-banking-down"


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


def run_lab(osticket: Any) -> tuple[str, int]:
    result = ostops(osticket, "run", str(LAB))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    record = load_record(Workspace(osticket.instance_path), match.group(1))
    assert record is not None and record.id_range is not None and len(record.ticket_ids) == 3
    return match.group(1), record.ticket_ids[KEY]


def entry_id(osticket: Any, ticket_id: int, where: str) -> int:
    rows = query(osticket, f"""SELECT e.id FROM ost_thread_entry e JOIN ost_thread th ON th.id = e.thread_id
                               WHERE th.object_type = 'T' AND th.object_id = %s AND {where} ORDER BY e.id""",
                 [ticket_id])
    assert rows, where
    return int(rows[0]["id"])


def event_id(osticket: Any, ticket_id: int, name: str) -> int:
    rows = query(osticket, """SELECT te.id FROM ost_thread_event te JOIN ost_thread th ON th.id = te.thread_id
                              JOIN ost_event ev ON ev.id = te.event_id
                              WHERE th.object_type = 'T' AND th.object_id = %s AND ev.name = %s
                              AND te.annulled = 0""",
                 [ticket_id, name])
    return int(rows[0]["id"])


def note_body(o: Any, t: int) -> str:
    n = entry_id(o, t, "e.title = 'Investigation'")
    query(o, "UPDATE ost_thread_entry SET body = 'Nothing was wrong.' WHERE id = %s", [n])
    return f"note #{n} by jane.doe: body rewritten since the run (now 'Nothing was wrong.')"


def reply_body(o: Any, t: int) -> str:
    n = entry_id(o, t, "e.type = 'R'")
    query(o, "UPDATE ost_thread_entry SET body = 'We did nothing.' WHERE id = %s", [n])
    return f"reply #{n} by jane.doe: body rewritten since the run (now 'We did nothing.')"


def subject(o: Any, t: int) -> str:
    query(o, "UPDATE ost_ticket__cdata SET subject = 'Partial outage' WHERE ticket_id = %s", [t])  # tag gone too
    return "subject rewritten since the run (now 'Partial outage')"


def sla_grace(o: Any, t: int) -> str:
    query(o, "UPDATE ost_sla SET grace_period = 200 WHERE name = 'Sev-A'")
    return "SLA 'Sev-A': grace period 1 h at the run, now 200 h"


def note_deleted(o: Any, t: int) -> str:
    n = entry_id(o, t, "e.title = 'Investigation'")
    query(o, "DELETE FROM ost_thread_entry WHERE id = %s", [n])
    assert entry_id(o, t, "e.title = 'Status Changed' AND e.staff_id > 0")  # jane's system note remains
    return f"note #{n} by jane.doe deleted since the run"


def events_reordered(o: Any, t: int) -> str:
    n = event_id(o, t, "closed")
    query(o, "UPDATE ost_thread_event SET timestamp = timestamp - INTERVAL 1 DAY WHERE id = %s", [n])
    return "events reordered since the run: at the run [#"


def own_comment_deleted(o: Any, t: int) -> str:
    n = entry_id(o, t, "e.title = 'Ticket Assigned to Online Banking'")
    query(o, "DELETE FROM ost_thread_entry WHERE id = %s", [n])
    return f"note #{n} by john.doe deleted since the run"


def status(o: Any, t: int) -> str:
    query(o, "UPDATE ost_ticket SET status_id = 1 WHERE ticket_id = %s", [t])
    return "status: expected 'Closed', actual 'Open'"


def message_deleted(o: Any, t: int) -> str:
    n = entry_id(o, t, "e.type = 'M'")
    query(o, "DELETE FROM ost_thread_entry WHERE id = %s", [n])
    return f"message #{n} by requester deleted since the run"


TAMPERS: list[Callable[[Any, int], str]] = [note_body, reply_body, subject, sla_grace, note_deleted,
                                            events_reordered, own_comment_deleted, status, message_deleted]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_a_tamper_after_the_run_is_named_by_verify(osticket: Any, tamper: Callable[[Any, int], str]) -> None:
    run_id, ticket_id = run_lab(osticket)
    assert ostops(osticket, "verify", str(LAB), "--run", run_id).returncode == 0
    try:
        named = tamper(osticket, ticket_id)
        result = ostops(osticket, "verify", str(LAB), "--run", run_id)
    finally:
        query(osticket, "UPDATE ost_sla SET grace_period = 1 WHERE name = 'Sev-A'")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert named in " ".join(output.split()), output


def test_without_its_record_a_run_is_found_by_its_tag(osticket: Any) -> None:
    run_id, _ = run_lab(osticket)
    Path(Workspace(osticket.instance_path).run_file(run_id)).unlink()
    result = ostops(osticket, "verify", str(LAB), "--run", run_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ostops(osticket, "report", "--run", run_id).returncode == 0
