"""Issue 14: two departments of one name under different parents. A scenario names one by its path, as the seed
does (``Clinical Systems / Network``); a bare name two departments share is refused naming both (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e

SEED = """\
version: 1
departments:
  - {name: Clinical Systems}
  - {name: Network, parent: Clinical Systems}
  - {name: Lab IT}
  - {name: Network, parent: Lab IT}
"""


def scenario(tmp_path: Path, department: str) -> Path:
    path = tmp_path / "transfer.yaml"
    path.write_text(f"""\
name: network transfer
tickets:
  - key: switch
    requester: {{name: Ken Doe, email: ken.doe@example.com}}
    topic: Report a Problem
    subject: Switch down
    message: The switch in the lab is down.
    steps:
      - {{as: john.doe, do: transfer, department: "{department}"}}
    expect:
      department: "{department}"
review:
  open_tickets: null
""")
    return path


def test_paths_pick_one_department_and_a_shared_bare_name_is_refused(osticket: Any, tmp_path: Path) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    (tmp_path / "depts.yaml").write_text(SEED)
    seeded = ostops(osticket, "seed", str(tmp_path / "depts.yaml"))
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr

    before = query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"]
    bare = ostops(osticket, "run", str(scenario(tmp_path, "Network")))
    err = " ".join(bare.stderr.split())
    assert bare.returncode == 2, bare.stdout + bare.stderr
    assert ("tickets[0].steps[0].department: ambiguous department 'Network': 2 departments have that name "
            "('Clinical Systems / Network', 'Lab IT / Network'); name one by its path") in err
    assert "tickets[0].expect.department: ambiguous department 'Network'" in err
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"] == before

    by_path = ostops(osticket, "run", str(scenario(tmp_path, "Lab IT / Network")))
    assert by_path.returncode == 0, by_path.stdout + by_path.stderr
    dept = query(osticket, """SELECT p.name AS parent FROM ost_ticket t JOIN ost_department d ON d.id = t.dept_id
                              JOIN ost_department p ON p.id = d.pid ORDER BY t.ticket_id DESC LIMIT 1""")
    assert dept == [{"parent": "Lab IT"}]


def test_department_cycles_in_a_seed_are_named_as_cycles(osticket: Any, tmp_path: Path) -> None:
    path = tmp_path / "cycles.yaml"
    path.write_text("version: 1\ndepartments:\n  - {name: Self IT, parent: Self IT}\n"
                    "  - {name: Lab IT, parent: Path IT}\n  - {name: Path IT, parent: Lab IT}\n"
                    "  - {name: A, parent: B}\n  - {name: B, parent: C}\n  - {name: C, parent: A}\n")
    result = ostops(osticket, "seed", str(path))
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:3 departments[0].parent: department parents form a cycle: Self IT → Self IT" in err
    assert f"{path}:4 departments[1].parent: department parents form a cycle: Lab IT → Path IT → Lab IT" in err
    assert f"{path}:6 departments[3].parent: department parents form a cycle: A → B → C → A" in err
    assert "unknown department" not in err
    assert not query(osticket, "SELECT id FROM ost_department WHERE name IN ('Self IT', 'Path IT', 'A')")
