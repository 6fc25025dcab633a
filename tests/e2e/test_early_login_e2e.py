"""A refused agent login fails the run before any ticket exists: ``prepare()`` logs in every agent the scenario
acts as, and the run reuses those sessions (no further logins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, ostops, query

LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def count_tickets(osticket: Any) -> int:
    return int(query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"])


def first_step_line(username: str) -> int:
    return LAB.read_text().splitlines().index(f"      - as: {username}") + 1


@pytest.mark.e2e
def test_a_wrong_agent_password_fails_before_any_ticket_is_created(osticket: Any, monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    seeded = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))  # idempotent: this test may run alone
    assert seeded.returncode == 0, seeded.stderr
    # The variable the runner reads for john.doe (the seed's password_env for him, and OSTOPS_PASSWORD_<USERNAME>).
    monkeypatch.setenv("OSTOPS_PASSWORD_JOHN_DOE", "not-johns-password")
    before = count_tickets(osticket)
    junit = tmp_path / "junit.xml"
    junit.write_text("<testsuite name='an earlier, passing run'/>")
    result = ostops(osticket, "run", str(LAB), "--junit", str(junit))  # no --seed: it would set the wrong password
    assert result.returncode == 1, result.stdout + result.stderr
    stderr = " ".join(result.stderr.split())  # rich wraps long lines
    assert f"{LAB}:{first_step_line('john.doe')} tickets[0].steps[0].as: agent 'john.doe' could not log in" in stderr
    assert "Access denied" in stderr  # osTicket's own message
    assert "no ticket was created" in stderr
    assert "Traceback" not in result.stderr
    assert count_tickets(osticket) == before
    written = junit.read_text()  # CI sees why, not the earlier run's file
    assert 'errors="1"' in written and "could not log in" in written and "earlier" not in written
