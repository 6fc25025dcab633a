"""Issue 23 acceptance: a scenario whose FIRST ticket fails still acts out, verifies and reports the others on a
real osTicket. osTicket refuses the first ticket's second assignment to the agent it already has
(1.18.1: include/class.ticket.php, Ticket::assign, "%s already assigned to %s"; include/ajax.tickets.php,
TicketsAjaxAPI::assign, answers the form again with "Unable to assign ticket"); that ticket's later step is
skipped, the other tickets are acted out and verified, the final review runs, every ticket is in the JUnit and
the JSON, the exit code is 1, and a later `verify` of the run reports the same failure and nothing new.
`--stop-on-failure` stops at the refusal instead."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, ostops, query

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4})")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


def q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML string


SUBJECTS = {
    "pump-alarm": 'Pumps on 4B show "drug library missing" & alarm — café',
    "printer-3f": "Ken's printer on floor 3 prints blank pages & jams",
    "vpn-drops": 'VPN "drops" every 5 min for Zoë & the night shift (< 3 min)',
}


def scenario(folder: Path) -> Path:
    path = folder / "ward.yaml"
    path.write_text(f"""name: {q('Ward 4B "pumps" & café')}
tickets:
  - key: pump-alarm
    requester: {{name: {q('Zoë "Zo" Ångström-Núñez')}, email: zoe.angstrom@example.com}}
    topic: Report a Problem
    subject: {q(SUBJECTS["pump-alarm"])}
    message: {q('Three pumps on 4B show "drug library missing" after the update & nothing helps. Ré-essayé.')}
    steps:
      - {{as: john.doe, do: assign_agent, agent: john.doe, comment: {q("Taking it — Zoë's ward & pumps.")}}}
      - {{id: assign-again, as: john.doe, do: assign_agent, agent: john.doe}}
      - {{as: john.doe, do: set_status, status: Closed}}
    expect: {{status: Closed}}
  - key: printer-3f
    requester: {{name: Ken O'Brien, email: ken.obrien@example.com}}
    topic: Report a Problem
    subject: {q(SUBJECTS["printer-3f"])}
    message: {q('It prints "blank" pages & then jams; café spilled nearby? Non.')}
    steps:
      - {{as: john.doe, do: note, title: {q('Toner & "drum"')}, text: {q("Replaced the drum; à surveiller.")}}}
      - {{as: john.doe, do: set_status, status: Closed}}
    expect: {{status: Closed, entries: [{{type: note, by: john.doe, title: {q('Toner & "drum"')}}}]}}
  - key: vpn-drops
    requester: {{name: {q("Zoë Ångström")}, email: zoe.a@example.com}}
    topic: Report a Problem
    subject: {q(SUBJECTS["vpn-drops"])}
    message: {q('The VPN "drops" every 5 min & we lose the chart. Merci!')}
    steps:
      - {{as: john.doe, do: reply, text: {q('Fixed the "keepalive" & MTU; ça marche?')}}}
      - {{as: john.doe, do: set_status, status: Closed}}
    expect: {{status: Closed}}
""", encoding="utf-8")
    return path


def statuses(osticket: Any, run_id: str) -> dict[str, tuple[str, str | None]]:
    rows = query(osticket, """
        SELECT cd.subject, st.name AS status, s.username AS agent FROM ost_ticket t
        JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id JOIN ost_ticket_status st ON st.id = t.status_id
        LEFT JOIN ost_staff s ON s.staff_id = t.staff_id WHERE cd.subject LIKE %s""", [f"%[ostops {run_id} %"])
    return {re.search(r" (\S+)\]$", r["subject"]).group(1): (r["status"], r["agent"]) for r in rows}


def test_a_failing_first_ticket_leaves_the_others_acted_verified_and_reported(osticket: Any, tmp_path: Path) -> None:
    path = scenario(tmp_path)
    junit, document = tmp_path / "run.xml", tmp_path / "run.json"
    result = ostops(osticket, "run", str(path), "--junit", str(junit), "--json-file", str(document))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 ticket(s) failed at a step" in " ".join(result.stderr.split()), output
    run_id = json.loads(document.read_text(encoding="utf-8"))["run_id"]

    # osTicket: the first ticket stopped where it was refused; the others were acted out to the end.
    assert statuses(osticket, run_id) == {"pump-alarm": ("Open", "john.doe"), "printer-3f": ("Closed", "john.doe"),
                                          "vpn-drops": ("Closed", "john.doe")}

    lines = path.read_text(encoding="utf-8").splitlines()
    refused_at = f"{path}:{lines.index('      - {id: assign-again, as: john.doe, do: assign_agent, agent: john.doe}') + 1}"
    suite = ET.parse(junit).getroot()
    outcome = {c.get("name"): next((child for child in c if child.tag != "system-out"), None)
               for c in suite.iter("testcase")}
    assert {name: None if found is None else found.tag for name, found in outcome.items()} == {
        "pump-alarm / requester create": None, "pump-alarm / john.doe assign_agent": None,
        "pump-alarm / assign-again": "failure", "pump-alarm / john.doe set_status": "skipped",
        "pump-alarm / verified in database": "skipped",
        **{f"{key} / {name}": None for key, steps in (("printer-3f", ("john.doe note",)), ("vpn-drops", ("john.doe reply",)))
           for name in ("requester create", *steps, "john.doe set_status", "verified in database")},
        "final review": None}
    refusal = outcome["pump-alarm / assign-again"]
    assert refusal is not None and refusal.get("message", "").startswith(f"{refused_at}: assigning an agent as john.doe")
    assert refusal.get("message", "").endswith("osTicket answered HTTP 200: Unable to assign ticket")
    skipped = outcome["pump-alarm / john.doe set_status"]
    assert skipped is not None and skipped.get("message") == (
        f"not run: step 'assign-again' of this ticket failed before it ({refused_at})")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("14", "1", "0", "2")

    run = json.loads(document.read_text(encoding="utf-8"))
    assert (run["command"], run["ok"], run["passed"], run["stopped"]) == ("run", False, False, None)
    assert [(t["key"], t["state"], t["steps_done"], t["steps"]) for t in run["ticket_states"]] == [
        ("pump-alarm", "failed at a step", 1, 3), ("printer-3f", "confirmed", 2, 2), ("vpn-drops", "confirmed", 2, 2)]
    tickets = run["verification"]["tickets"]
    assert [(t["key"], t["passed"], bool(t["failed"])) for t in tickets] == [
        ("pump-alarm", False, True), ("printer-3f", True, False), ("vpn-drops", True, False)]
    assert [s["name"] for s in run["skipped_steps"]] == ["pump-alarm / john.doe set_status"]
    assert [m for m in run["verification"]["mismatches"] if "review" in m] == []  # the review ran and holds
    assert len(run["verification"]["mismatches"]) == 1

    # Later, from the record: the same failure, nothing new.
    later = ostops(osticket, "verify", str(path), "--run", run_id, "--json")
    assert later.returncode == 1, later.stdout + later.stderr
    assert json.loads(later.stdout)["mismatches"] == run["verification"]["mismatches"]


def test_stop_on_failure_stops_at_the_refusal(osticket: Any, tmp_path: Path) -> None:
    path = scenario(tmp_path)
    junit, document = tmp_path / "run.xml", tmp_path / "run.json"
    result = ostops(osticket, "run", str(path), "--stop-on-failure", "--junit", str(junit), "--json-file",
                    str(document))
    assert result.returncode == 1, result.stdout + result.stderr
    run = json.loads(document.read_text(encoding="utf-8"))
    assert list(statuses(osticket, run["run_id"])) == ["pump-alarm"]
    assert run["stopped"].endswith("--stop-on-failure") and "verification" not in run
    suite = ET.parse(junit).getroot()
    assert (suite.get("failures"), suite.get("skipped")) == ("1", str(1 + 3 + 3 + 3 + 1))
