"""Issue 24: files attached in the Support Center, through the form's own upload field, as a person would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.osticket import REPO, RUN_TICKETS, ostops, query, run_arg

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")
SCENARIO = """\
name: Support Center attachments
seed: {seed}
tickets:
  - key: scan-jam
    requester: {{name: Zoë Ångström, email: zoe.angstrom@example.com}}
    channel: portal
    topic: Report a Problem
    subject: "Scanner jams & shows < E-42 >"
    message: The scanner on floor 2 jams; a photo of the error and its log are attached.
    attachments: [files/error-42.log, "files/écran d'erreur.txt"]
    steps:
      - {{as: john.doe, do: reply, text: Could you send the scanner's settings page?}}
      - {{as: requester, do: reply, text: Here it is., attachments: [files/settings 設定.txt]}}
    expect:
      attachments: {{count: 3, names: [error-42.log, "écran d'erreur.txt", settings 設定.txt]}}
      entries_in_order:
        - {{type: message, by: requester}}
        - {{type: response, by: john.doe}}
        - {{type: message, by: requester}}
review: {{open_tickets: 1}}
"""


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    assert ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml")).returncode == 0


def test_a_portal_ticket_and_a_portal_reply_carry_their_files(osticket: Any, tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "error-42.log").write_text("E-42 paper path blocked at 09:14\n", encoding="utf-8")
    (tmp_path / "files" / "écran d'erreur.txt").write_text("Bourrage papier & <E-42>\n", encoding="utf-8")
    (tmp_path / "files" / "settings 設定.txt").write_text("dpi=300\n", encoding="utf-8")
    scenario = tmp_path / "portal.yaml"
    scenario.write_text(SCENARIO.format(seed=REPO / "seed" / "helpdesk.yaml"), encoding="utf-8")
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = RUN_ID.search(result.stdout)
    assert run_id, result.stdout
    rows = query(osticket, f"""
        SELECT f.name, f.size, e.type, e.poster FROM ost_ticket t
        JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id
        JOIN ost_thread th ON th.object_type = 'T' AND th.object_id = t.ticket_id
        JOIN ost_thread_entry e ON e.thread_id = th.id
        JOIN ost_attachment a ON a.type = 'H' AND a.object_id = e.id
        JOIN ost_file f ON f.id = a.file_id
        WHERE t.ticket_id IN {RUN_TICKETS} AND t.source = 'Web' ORDER BY e.id, a.id""", [run_arg(run_id.group(1))])
    # the two files on the requester's first message (the form), the third on her reply (the reply form)
    assert sorted((r["name"], r["type"]) for r in rows[:2]) == [("error-42.log", "M"), ("écran d'erreur.txt", "M")]
    assert [(r["name"], r["type"]) for r in rows[2:]] == [("settings 設定.txt", "M")]
    sizes = {r["name"]: r["size"] for r in rows}
    assert sizes["error-42.log"] == len("E-42 paper path blocked at 09:14\n")
    # a second, independent look: verify re-reads the run and the attachments still hold
    verified = ostops(osticket, "verify", str(scenario), "--run", run_id.group(1))
    assert verified.returncode == 0, verified.stdout + verified.stderr
