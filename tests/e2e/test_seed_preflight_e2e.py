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
