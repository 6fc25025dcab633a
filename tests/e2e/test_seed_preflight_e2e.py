"""Issue 14: `ostops run --seed` writes only when the run can start. The scenario's names are checked against the
seed file and the database together first; exit 2 leaves every osTicket table as it was (CHECKSUM TABLE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e


def checksums(osticket: Any) -> dict[str, int]:
    prefix = osticket.instance.db.table_prefix
    tables = [r["TABLE_NAME"] for r in query(osticket, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                                                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE %s",
                                             [prefix.replace("_", r"\_") + "%"])]
    assert len(tables) > 50
    rows = query(osticket, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
    return {r["Table"]: r["Checksum"] for r in rows}


def files(tmp_path: Path, agent: str, sla: str) -> Path:
    """The reference seed plus a new SLA; the lab scenario with one step acted by ``agent`` moving to ``sla``."""
    seed = yaml.safe_load((REPO / "seed" / "helpdesk.yaml").read_text())
    seed["slas"].append({"name": "Sev-Z", "grace_hours": 48})
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    scenario = yaml.safe_load((REPO / "seed" / "scenarios" / "lab.yaml").read_text())
    scenario["seed"] = "seed.yaml"
    scenario["tickets"] = scenario["tickets"][:1]
    scenario["tickets"][0]["steps"][0] = {"as": agent, "do": "change_sla", "sla": sla}
    scenario["tickets"][0]["expect"] = {}
    scenario["review"] = {"open_tickets": None}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def test_unknown_names_with_seed_write_nothing(osticket: Any, tmp_path: Path) -> None:
    before = checksums(osticket)
    result = ostops(osticket, "run", str(files(tmp_path, "ghost.agent", "Sev-Q")), "--seed")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown agent 'ghost.agent'" in result.stderr and "unknown SLA 'Sev-Q'" in result.stderr
    assert checksums(osticket) == before
    assert not query(osticket, "SELECT id FROM ost_sla WHERE name = 'Sev-Z'")


def test_names_the_seed_will_create_are_accepted(osticket: Any, tmp_path: Path) -> None:
    result = ostops(osticket, "run", str(files(tmp_path, "john.doe", "Sev-Z")), "--seed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert query(osticket, "SELECT id FROM ost_sla WHERE name = 'Sev-Z'")


NORD = "R&D — Équipe «Nord»"
CLINICAL = 'Clinical "Ops" & Care'
LABS = "Labs — Ünit 3"


def nord_files(tmp_path: Path, steps: list[dict[str, str]], agents: list[dict[str, Any]] | None = None) -> Path:
    """The reference seed plus two departments named «Nord» under two new parents (and ``agents``); a scenario of
    one ticket in IT Support (topic Report a Problem) with ``steps``. (The ticket's own text stays clear of
    quotes, ``&`` and ``<``, which the verifier compares by issue 19 item 1's rules.)"""
    seed = yaml.safe_load((REPO / "seed" / "helpdesk.yaml").read_text())
    seed["departments"] += [{"name": CLINICAL}, {"name": LABS}, {"name": NORD, "parent": CLINICAL},
                            {"name": NORD, "parent": LABS}]
    seed["agents"] += agents or []
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed, allow_unicode=True), encoding="utf-8")
    scenario = {"name": "Nord «pumps»", "seed": "seed.yaml", "review": {"open_tickets": None}, "tickets": [{
        "key": "pumps", "requester": {"name": "Zoë O'Brien", "email": "zoe.obrien@example.com"},
        "topic": "Report a Problem", "subject": "Three pumps on 4B: drug library missing (café Nord)",
        "message": "After the overnight update the pumps refuse to start.", "steps": steps}]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_name_two_seeded_departments_share_is_ambiguous_and_nothing_is_written(osticket: Any,
                                                                                tmp_path: Path) -> None:
    """Issue 19 item 4: the seed was applied, then 'nothing was run' with the ambiguous name called unknown."""
    before = checksums(osticket)
    path = nord_files(tmp_path, [{"as": "john.doe", "do": "transfer", "department": NORD}])
    result = ostops(osticket, "run", str(path), "--seed")
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "1 ambiguous name; nothing was run or seeded" in err
    assert (f"ambiguous department '{NORD}': 2 departments have that name ('{CLINICAL} / {NORD}', "
            f"'{LABS} / {NORD}'); name one by its path") in err
    assert "unknown" not in err and "Traceback" not in result.stderr
    assert checksums(osticket) == before
    assert not query(osticket, "SELECT id FROM ost_department WHERE name = %s", [NORD])


def test_an_agent_the_seed_leaves_without_access_is_refused_before_the_seed(osticket: Any, tmp_path: Path) -> None:
    """The agent check runs on the merged state too: an agent the seed creates, in a department the seed
    creates, may not note on a ticket in IT Support; exit 2 before anything is written."""
    zoe = {"username": "zoe.nord", "first_name": "Zoë", "last_name": "O'Nord", "email": "zoe.nord@example.com",
           "department": f"{LABS} / {NORD}", "role": "All Access"}
    before = checksums(osticket)
    path = nord_files(tmp_path, [{"as": "zoe.nord", "do": "note", "text": "Checked the drug library"}],
                      [zoe])
    result = ostops(osticket, "run", str(path), "--seed")
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "1 problem with the agents; nothing was run or seeded" in err
    assert ("agent 'zoe.nord' cannot post a note: the ticket is in department 'IT Support', the agent has no "
            "access to that department") in err
    assert checksums(osticket) == before
    assert not query(osticket, "SELECT staff_id FROM ost_staff WHERE username = 'zoe.nord'")


def test_the_path_of_a_seeded_department_runs(osticket: Any, tmp_path: Path) -> None:
    path = nord_files(tmp_path, [{"as": "john.doe", "do": "transfer", "department": f"{CLINICAL} / {NORD}"}])
    result = ostops(osticket, "run", str(path), "--seed")
    assert result.returncode == 0, result.stdout + result.stderr
    (dept,) = query(osticket, "SELECT d.id FROM ost_department d JOIN ost_department p ON p.id = d.pid "
                              "WHERE d.name = %s AND p.name = %s", [NORD, CLINICAL])
    assert query(osticket, "SELECT dept_id FROM ost_ticket ORDER BY ticket_id DESC LIMIT 1")[0]["dept_id"] == dept["id"]
    # once seeded, the bare name is ambiguous in the database too, and said so
    bare = nord_files(tmp_path, [{"as": "john.doe", "do": "transfer", "department": NORD}])
    result = ostops(osticket, "run", str(bare))
    assert result.returncode == 2 and "1 ambiguous name; nothing was run" in " ".join(result.stderr.split())
