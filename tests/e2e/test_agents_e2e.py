"""Issue 14: acting agents are checked before the first ticket. An agent on vacation, an inactive one and one
whose role lacks a step's permission are all named at once (exit 2), and no ticket is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e

SEED = """\
version: 1
agents:
  - {username: vic.vacation, first_name: Vic, last_name: Vacation, email: vic.vacation@example.com,
     department: IT Support, role: All Access, on_vacation: true}
  - {username: ina.inactive, first_name: Ina, last_name: Inactive, email: ina.inactive@example.com,
     department: IT Support, role: All Access, active: false}
  - {username: vera.viewer, first_name: Vera, last_name: Viewer, email: vera.viewer@example.com,
     department: IT Support, role: View only}
"""

SCENARIO = """\
name: unavailable agents
tickets:
  - key: printer
    requester: {name: Ken Doe, email: ken.doe@example.com}
    topic: Report a Problem
    subject: Printer offline
    message: The printer on floor 2 is offline.
    steps:
      - {as: john.doe, do: transfer, department: IT Support}
      - {as: vic.vacation, do: note, text: Looking into it.}
      - {as: ina.inactive, do: reply, text: On it.}
      - {as: vera.viewer, do: change_sla, sla: Sev-A}
      - {as: john.doe, do: assign_agent, agent: vic.vacation}
      - {as: john.doe, do: set_status, status: Closed}
"""


def count_tickets(osticket: Any) -> int:
    return int(query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"])


def test_unavailable_agents_are_named_before_any_ticket(osticket: Any, tmp_path: Path) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    (tmp_path / "agents.yaml").write_text(SEED)
    seeded = ostops(osticket, "seed", str(tmp_path / "agents.yaml"))
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    before = count_tickets(osticket)
    result = ostops(osticket, "run", str(scenario))
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "4 problems with the agents; nothing was run" in err
    assert f"{scenario}:10 tickets[0].steps[1].as: agent 'vic.vacation' is on vacation" in err
    assert f"{scenario}:11 tickets[0].steps[2].as: agent 'ina.inactive' is inactive" in err
    assert (f"{scenario}:12 tickets[0].steps[3].as: agent 'vera.viewer' may not change sla in department "
            "'IT Support' (role 'View only', which lacks ticket.edit)") in err
    assert f"{scenario}:13 tickets[0].steps[4].agent: agent 'vic.vacation' is on vacation" in err
    assert "Traceback" not in result.stderr
    assert count_tickets(osticket) == before


OUTSIDERS = """\
version: 1
agents:
  - {username: otto.outside, first_name: Otto, last_name: "O'Side", email: otto.outside@example.com,
     department: Online Banking, role: All Access}
  - {username: mia.outside, first_name: Mía, last_name: "Ça & Là", email: mia.outside@example.com,
     department: Online Banking, role: All Access}
"""

NO_ACCESS = """\
name: "Agents «outside» IT Support"
tickets:
  - key: pumps
    requester: {name: "Zoë O'Brien", email: zoe.obrien@example.com}
    topic: Report a Problem
    subject: Pumps on 4B show drug library missing (café Nord)
    message: After the overnight update the pumps refuse to start.
    steps:
      - {as: otto.outside, do: note, text: Checked the drug library and the log}
      - {as: mia.outside, do: add_collaborator, email: nurse.lead@example.com, name: "Renée D'Arc"}
"""


def test_note_and_collaborator_without_access_are_refused_before_any_ticket(osticket: Any, tmp_path: Path) -> None:
    """Issue 19 item 5: both steps passed the check, then failed mid-run ("Access denied", "HTTP 404: No such
    thread") with the ticket left open. osTicket asks for access to the ticket first (Ticket::checkStaffPerm)."""
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0
    (tmp_path / "outsiders.yaml").write_text(OUTSIDERS, encoding="utf-8")
    seeded = ostops(osticket, "seed", str(tmp_path / "outsiders.yaml"))
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(NO_ACCESS, encoding="utf-8")
    before = count_tickets(osticket)
    result = ostops(osticket, "run", str(scenario))
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "2 problems with the agents; nothing was run" in err
    assert (f"{scenario}:9 tickets[0].steps[0].as: agent 'otto.outside' cannot post a note: the ticket is in "
            "department 'IT Support', the agent has no access to that department") in err
    assert (f"{scenario}:10 tickets[0].steps[1].as: agent 'mia.outside' cannot add a collaborator: the ticket is "
            "in department 'IT Support'") in err
    assert "Traceback" not in result.stderr
    assert count_tickets(osticket) == before

    # The same steps once the ticket is assigned to them (osTicket lends access to its assignee and team):
    # the check lets them through, and osTicket agrees.
    assigned = NO_ACCESS.replace("    steps:\n", "    steps:\n      - {as: john.doe, do: assign_agent, agent: "
                                 "otto.outside}\n").replace("{as: mia.outside", "{as: otto.outside")
    scenario.write_text(assigned + "      - {as: john.doe, do: set_status, status: Closed}\n", encoding="utf-8")
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert count_tickets(osticket) == before + 1
