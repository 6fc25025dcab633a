"""Issue 7 on a real osTicket: bulk tickets through the API, verified in the database."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from automation.load.plan import Planned, Variety, by_user_id, plan_tickets
from automation.load.run import LoadResult, create_and_verify, create_tickets, verify_load
from automation.load.verification import RunVerifier
from automation.osticket import db
from automation.osticket.api import NewTicket, TicketApi
from automation.scenarios.record import new_run_id
from tests.helpers.osticket import OSTOPS, REPO, RUN_TICKETS, ostops, query, run_arg

pytestmark = pytest.mark.e2e


def test_load_command_creates_and_verifies_every_ticket(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    result = ostops(osticket, "load", "--tickets", "40", "--concurrency", "4", "--scenario",
                    str(REPO / "seed" / "scenarios" / "lab.yaml"), "--sample", "3", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["verified"], summary["acted_on"]) == (40, 40, 3)
    assert summary["errors"] == {} and summary["mismatches"] == []
    assert summary["verification"]["queries"] >= summary["verification"]["chunks"] >= 1
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    rows = query(osticket, "SELECT COUNT(*) AS n, COUNT(DISTINCT t.user_id) AS users, COUNT(DISTINCT t.topic_id) "
                           "AS topics FROM ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id "
                           f"WHERE t.ticket_id IN {RUN_TICKETS}", [run_arg(summary['run_id'])])
    assert rows[0]["n"] == 40
    assert rows[0]["users"] > 1 and rows[0]["topics"] > 1  # requesters and topics vary


def test_load_on_two_locust_workers_verifies_every_ticket(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    result = ostops(osticket, "load", "--tickets", "30", "--concurrency", "4", "--workers", "2", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["engine"] == {"name": "locust", "workers": 2}
    assert (summary["created"], summary["verified"], summary["errors"], summary["mismatches"]) == (30, 30, {}, [])
    assert summary["unconfirmed"] == []
    first, last = summary["id_range"]
    rows = query(osticket, "SELECT COUNT(*) AS n, COUNT(DISTINCT t.number) AS numbers FROM ost_ticket t "
                           "JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id "
                           f"WHERE t.ticket_id > %s AND t.ticket_id <= %s AND t.ticket_id IN {RUN_TICKETS}",
                 [first, last, run_arg(summary['run_id'])])
    assert (rows[0]["n"], rows[0]["numbers"]) == (30, 30)  # each planned ticket sent once, by one worker


def test_more_workers_than_users_is_refused(osticket: Any) -> None:
    result = ostops(osticket, "load", "--tickets", "3", "--concurrency", "1", "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 is more than --concurrency 1" in result.stderr


@pytest.fixture
def conn(osticket: Any) -> Iterator[Any]:
    connection = db.connect(osticket.instance)
    yield connection
    connection.close()


def unverified_run(osticket: Any, conn: Any, count: int, seed: int, concurrency: int = 4) -> tuple[
        db.Tables, list[Planned], LoadResult]:
    """A run created without streamed verification, for `verify_load` to look at afterwards."""
    tables = db.Tables(osticket.instance.db.table_prefix)
    planned = plan_tickets(Variety.read(conn, tables), count, seed=seed)
    result = create_tickets(osticket.instance, planned, concurrency, new_run_id(),
                            after_ticket_id=db.last_ticket_id(conn, tables))
    return tables, planned, result


def test_verification_names_tickets_that_differ(osticket: Any, conn: Any) -> None:
    tables, planned, result = unverified_run(osticket, conn, 12, seed=11)
    verify_load(conn, tables, result, planned)
    assert (result.verified, result.mismatches, result.verification.queries) == (12, [], 1)

    victim = planned[5]
    other_topic = next(t for t in Variety.read(conn, tables).topics if t.topic_id != victim.topic.topic_id)
    query(osticket, "UPDATE ost_ticket SET topic_id = %s WHERE number = %s",
          [other_topic.topic_id, result.numbers[victim.key]])
    verify_load(conn, tables, result, planned)
    assert result.verified == 11
    assert len(result.mismatches) == 1
    assert result.mismatches[0].startswith(f"{victim.key} (#{result.numbers[victim.key]}): topic ")
    assert f"!= {victim.topic.name!r}" in result.mismatches[0]
    assert result.verification.queries == 2  # the fingerprint, then the query naming what differs


def test_verification_ignores_other_traffic_and_names_a_vanished_ticket(osticket: Any, conn: Any) -> None:
    tables, planned, result = unverified_run(osticket, conn, 8, seed=5)
    # Someone else's ticket arrives after the run began: it lies in the run's id range but is not the run's.
    api = TicketApi(osticket.instance.base_url, osticket.instance.api_key.get_secret_value())
    api.create_ticket(NewTicket(name="Other Traffic", email="other.traffic@example.com", subject="Not a load ticket",
                                message="Arrived while a load run was being verified.", alert=False,
                                autorespond=False))
    api.close()
    verify_load(conn, tables, result, planned)
    assert (result.verified, result.mismatches, result.verification.queries) == (8, [], 1)

    gone = planned[3]
    query(osticket, "UPDATE ost_ticket SET number = CONCAT('x', number) WHERE number = %s",
          [result.numbers[gone.key]])
    verify_load(conn, tables, result, planned)
    assert result.verified == 7
    assert result.mismatches == [f"{gone.key}: ticket #{result.numbers[gone.key]} not found in the database"]


def test_verification_streams_alongside_the_run(osticket: Any, conn: Any) -> None:
    tables = db.Tables(osticket.instance.db.table_prefix)
    planned = plan_tickets(Variety.read(conn, tables), 60, seed=3)
    result = create_and_verify(osticket.instance, conn, tables, planned, 2, new_run_id(), check_every=0.05)
    assert (result.verified, result.mismatches) == (60, [])
    verification = result.verification
    assert verification.chunks > 1, "the run is checked in several chunks while it goes on"
    assert verification.queries == verification.chunks  # every chunk matched at once: no second look, no naming
    assert verification.seconds_in_background > 0


def test_a_chunk_found_outside_its_assumed_range_is_looked_at_again(osticket: Any, conn: Any) -> None:
    """The tighter range is derived from the order of the answers; if that reasoning ever failed (say a
    multi-primary cluster handing out ids out of order) the chunk is checked again over the whole run."""
    tables, planned, result = unverified_run(osticket, conn, 6, seed=9, concurrency=1)
    early, late = result.created[:3], result.created[3:]
    verifier = RunVerifier(conn, tables, result.after_ticket_id, by_user_id(planned))
    for ticket in late:
        verifier.add(ticket)
    assert verifier.check_pending()
    # Claim the earlier tickets were sent after the later ones had been checked: their ids now look too small.
    for ticket in early:
        verifier.add(replace(ticket, sent=time.perf_counter() + 1))
    assert verifier.check_pending()
    verdict = verifier.finish()
    assert (verdict.verified, verdict.mismatches, verdict.chunks) == (6, [], 2)
    assert verdict.queries == 3  # late, early within the wrong range, early again over the whole run


def test_the_same_mistake_on_two_tickets_names_both(osticket: Any, conn: Any) -> None:
    tables, planned, result = unverified_run(osticket, conn, 10, seed=13)
    first, second = planned[2], planned[7]
    sla = query(osticket, "SELECT id FROM ost_sla WHERE name = 'Sev-D'")[0]["id"]
    query(osticket, "UPDATE ost_ticket SET sla_id = %s WHERE number IN (%s, %s)",
          [sla, result.numbers[first.key], result.numbers[second.key]])
    verify_load(conn, tables, result, planned)
    assert result.verified == 8
    assert sorted(line.split(" ")[0] for line in result.mismatches) == sorted([first.key, second.key])
    assert all("SLA 'Sev-D' != " in line for line in result.mismatches)


def test_a_connection_lost_during_the_run_is_opened_again(osticket: Any, conn: Any) -> None:
    tables = db.Tables(osticket.instance.db.table_prefix)
    planned = plan_tickets(Variety.read(conn, tables), 40, seed=17)
    after = db.last_ticket_id(conn, tables)
    verifier = RunVerifier(db.connect(osticket.instance), tables, after, by_user_id(planned), interval=0.05,
                           reopen=lambda: db.connect(osticket.instance))
    lost = verifier.conn.thread_id()
    answered = []

    def drop_the_verifiers_connection_once() -> None:
        answered.append(1)
        if len(answered) == 15:
            query(osticket, f"KILL CONNECTION {int(lost)}")

    with verifier.running():
        result = create_tickets(osticket.instance, planned, 2, new_run_id(), drop_the_verifiers_connection_once,
                                after, verifier)
    verdict = verifier.finish()
    assert verifier.conn.thread_id() != lost, "the dropped connection was replaced"
    assert (verdict.verified, verdict.mismatches, verdict.error) == (40, [], None)
    assert len(result.created) == 40
    verifier.conn.close()


def test_refused_requests_show_osticket_s_own_message(osticket: Any, tmp_path: Path) -> None:
    wrong_key = osticket.instance.model_copy(update={"api_key": SecretStr("0" * 32)})
    instance_file = tmp_path / "instance.json"
    wrong_key.save(instance_file)
    result = subprocess.run([OSTOPS, "load", "--tickets", "3", "--concurrency", "2", "--instance", str(instance_file)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "3 of 3 request(s) failed, 0/3 verified" in result.stderr
    assert "HTTP 401 (3): osTicket refused the API key" in result.stderr
    assert "Valid API key required" in result.stderr
    assert "verification failed" not in result.stderr
    assert "0" * 32 not in result.stdout + result.stderr
