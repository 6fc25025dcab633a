"""Issue 7 on a real osTicket: bulk tickets through the API, verified in the database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.load import Variety, create_tickets, plan_tickets, verify_load
from automation.osticket import db
from automation.scenarios.runner import new_run_id
from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e


def test_load_command_creates_and_verifies_every_ticket(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    result = ostops(osticket, "load", "--tickets", "40", "--concurrency", "4", "--scenario",
                    str(REPO / "seed" / "scenarios" / "lab.yaml"), "--sample", "3", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["verified"], summary["acted_on"]) == (40, 40, 3)
    assert summary["errors"] == {} and summary["mismatches"] == []
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    rows = query(osticket, "SELECT COUNT(*) AS n, COUNT(DISTINCT t.user_id) AS users, COUNT(DISTINCT t.topic_id) "
                           "AS topics FROM ost_ticket t JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id "
                           "WHERE cd.subject LIKE %s", [f"%[ostops {summary['run_id']} %"])
    assert rows[0]["n"] == 40
    assert rows[0]["users"] > 1 and rows[0]["topics"] > 1  # requesters and topics vary


def test_verification_names_tickets_that_differ(osticket: Any) -> None:
    conn = db.connect(osticket.instance)
    tables = db.Tables(osticket.instance.db.table_prefix)
    planned = plan_tickets(Variety.read(conn, tables), 12, seed=11)
    result = create_tickets(osticket.instance, planned, 4, new_run_id())
    verify_load(conn, tables, result, planned)
    assert (result.verified, result.mismatches) == (12, [])

    victim = planned[5]
    other_topic = next(t for t in Variety.read(conn, tables).topics if t.topic_id != victim.topic.topic_id)
    query(osticket, "UPDATE ost_ticket SET topic_id = %s WHERE number = %s",
          [other_topic.topic_id, result.numbers[victim.key]])
    result.mismatches.clear()
    verify_load(conn, tables, result, planned)
    assert result.verified == 11
    assert len(result.mismatches) == 1
    assert result.mismatches[0].startswith(f"{victim.key} (#{result.numbers[victim.key]}): topic ")
    assert f"!= {victim.topic.name!r}" in result.mismatches[0]
