"""Iterating on one's own tickets: `ostops run --only KEY` and `ostops lab reset` on a real osTicket."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import LocalOsTicket, bring_up
from tests.helpers.osticket import REPO, RUN_TICKETS, ostops, query, run_arg

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """Its own instance: `lab reset` deletes every run's tickets and records."""
    yield from bring_up("ostops-iterate-")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0


def tagged(osticket: Any, run_id: str = "") -> list[str]:
    """The subjects of one run's tickets (of every run's without ``run_id``), by their run field."""
    rows = query(osticket, f"SELECT t.ticket_id, cd.subject FROM ost_ticket t JOIN ost_ticket__cdata cd ON "
                           f"cd.ticket_id = t.ticket_id WHERE t.ticket_id IN {RUN_TICKETS} ORDER BY t.ticket_id",
                 [run_arg(run_id) if run_id else "_%"])
    return [r["subject"] for r in rows]


def untagged(osticket: Any) -> int:
    """How many tickets no run made."""
    return query(osticket, f"SELECT COUNT(*) AS n FROM ost_ticket t WHERE t.ticket_id NOT IN {RUN_TICKETS}",
                 ["_%"])[0]["n"]


def test_only_acts_and_verifies_the_named_tickets(osticket: Any) -> None:
    result = ostops(osticket, "run", str(LAB), "--only", "excel-wont-launch")
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    run_id = match.group(1)
    subjects = tagged(osticket, run_id)
    assert subjects == ["Microsoft Excel won't launch"]
    assert "online-banking-down" not in result.stdout and "cfo-laptop-dead" not in result.stdout
    # verify knows the run was limited: the other tickets are not reported missing
    verified = ostops(osticket, "verify", str(LAB), "--run", run_id, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert [t["key"] for t in json.loads(verified.stdout)["tickets"]] == ["excel-wont-launch"]

    two = ostops(osticket, "run", str(LAB), "--only", "cfo-laptop-dead,online-banking-down")
    assert two.returncode == 0, two.stdout + two.stderr
    second = RUN_ID.search(two.stdout)
    assert second and len(tagged(osticket, second.group(1))) == 2


def test_only_an_unknown_key_names_the_keys_and_creates_nothing(osticket: Any) -> None:
    before = query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"]
    result = ostops(osticket, "run", str(LAB), "--only", "excel-wont-launch,excel-wont-lunch")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'excel-wont-lunch'" in result.stderr and "did you mean 'excel-wont-launch'" in result.stderr
    assert "online-banking-down, excel-wont-launch, cfo-laptop-dead" in result.stderr
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"] == before


def test_lab_reset_purges_every_run_and_reapplies_the_seed(osticket: Any) -> None:
    first = ostops(osticket, "run", str(LAB))
    assert first.returncode == 0, first.stdout + first.stderr
    inst = osticket.instance
    mine = requests.post(inst.base_url + "api/tickets.json", timeout=30,  # a ticket no run made
                         headers={"X-API-Key": inst.api_key.get_secret_value()},
                         json={"name": "Zoë Ångström", "email": "zoe@example.com",
                               "subject": "Printer & scanner <3F> — not a run's", "message": "Keep me"})
    assert mine.status_code == 201, mine.text
    others = untagged(osticket)
    assert others >= 1
    runs_before = json.loads(ostops(osticket, "runs", "--json").stdout)["runs"]
    assert len(runs_before) >= 2
    # the learner changed an SLA in the staff panel: the reset puts the seed's value back
    query(osticket, "UPDATE ost_sla SET grace_period = 99 WHERE name = 'Sev-B'")
    tickets = len(tagged(osticket))
    assert tickets >= 4

    refused = ostops(osticket, "lab", "reset")  # no terminal, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--yes" in refused.stderr
    assert len(tagged(osticket)) == tickets

    reset = ostops(osticket, "lab", "reset", "--yes")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert f"lab reset: {tickets} ticket(s) deleted, helpdesk.yaml re-applied" in reset.stdout
    assert tagged(osticket) == []
    assert untagged(osticket) == others
    assert query(osticket, "SELECT grace_period FROM ost_sla WHERE name = 'Sev-B'")[0]["grace_period"] == 4
    assert json.loads(ostops(osticket, "runs", "--json").stdout)["runs"] == []
    # the same instance goes on: the lab runs again on it
    again = ostops(osticket, "run", str(LAB))
    assert again.returncode == 0, again.stdout + again.stderr


def test_lab_reset_refuses_a_bad_seed_before_deleting(osticket: Any, tmp_path: Any) -> None:
    bad = tmp_path / "seed.yaml"
    bad.write_text("slas:\n  - name: X\n    grace_hours: -1\n", encoding="utf-8")
    tickets = len(tagged(osticket))
    result = ostops(osticket, "lab", "reset", "--seed", str(bad), "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(bad) in result.stderr
    assert len(tagged(osticket)) == tickets


def test_the_learners_template_runs_and_verifies(osticket: Any) -> None:
    template = REPO / "seed" / "scenarios" / "my-ticket.yaml"
    result = ostops(osticket, "run", str(template), "--only", "my-ticket")
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    subjects = tagged(osticket, match.group(1))
    assert subjects == ["Printer on floor 3 prints blank pages & jams"]


def test_the_lab_guide_s_exercises(osticket: Any, tmp_path: Any) -> None:
    """docs/lab-guide.md: change an SLA (the plan shows it), break an expectation and read the failure."""
    guide = (REPO / "docs" / "lab-guide.md").read_text(encoding="utf-8")
    seed = (REPO / "seed" / "helpdesk.yaml").read_text(encoding="utf-8")
    assert "  - name: Sev-C\n    grace_hours: 8\n" in seed and "`grace_hours` of 2 instead of 8" in guide
    changed = tmp_path / "helpdesk.yaml"
    changed.write_text(seed.replace("  - name: Sev-C\n    grace_hours: 8\n", "  - name: Sev-C\n    grace_hours: 2\n"),
                       encoding="utf-8")
    plan = ostops(osticket, "seed", str(changed), "--plan")
    assert plan.returncode == 0 and "Sev-C" in plan.stdout, plan.stdout + plan.stderr

    template = (REPO / "seed" / "scenarios" / "my-ticket.yaml").read_text(encoding="utf-8")
    broken = template.replace("      agent: john.doe                # 'none'", "      agent: jane.doe                # 'none'")
    assert broken != template
    mine = tmp_path / "my-ticket.yaml"
    mine.write_text(broken.replace("seed: ../helpdesk.yaml", f"seed: {REPO / 'seed' / 'helpdesk.yaml'}"),
                    encoding="utf-8")
    result = ostops(osticket, "run", str(mine))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 expectation(s) not met" in result.stderr
    assert "ticket my-ticket (#" in result.stderr and "agent: expected 'jane.doe', actual 'john.doe'" in result.stderr
