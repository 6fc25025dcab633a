"""Issue 15: collaborators (the e-mail's Cc, the staff panel's "Add a collaborator"), attachments (ticket API,
e-mail, the staff panel's reply and note forms) and entries pointed at by title and text — on a real osTicket,
proven from its database; and osTicket's own system notes told apart from agents' notes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from automation.osticket import db
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.http import instance_session
from automation.scenarios.facts import read_run, run_tag
from automation.scenarios.models import Scenario
from automation.scenarios.verify import verify
from tests.helpers.osticket import REPO, RUN_TICKETS, ostops, query

pytestmark = pytest.mark.e2e

SEED = REPO / "seed" / "helpdesk.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

SCENARIO = """\
name: collaborators and attachments
seed: {seed}
tickets:
  - key: cfo-printer
    requester: {{name: Karen Doe, email: karen.doe@example.com}}
    channel: email
    cc: [cfo.office@example.com]
    subject: The CFO's printer prints blank pages
    message: Every page comes out blank since this morning; the error log is attached.
    attachments: [files/printer-error.log]
    steps:
      - {{as: john.doe, do: add_collaborator, email: ken.doe@example.com}}
      - {{as: john.doe, do: add_collaborator, email: facilities@example.com, name: Facilities Desk}}
      - as: john.doe
        do: note
        title: Drum unit
        text: The drum unit is worn out; photo of the part number attached.
        attachments: [files/drum.png]
      - {{as: john.doe, do: reply, text: A new drum unit is on its way; the order is attached.,
          attachments: [files/order.pdf]}}
      - {{as: requester, do: reply, text: Thanks - a test page attached., attachments: [files/test-page.txt]}}
    expect:
      collaborators: [cfo.office@example.com, ken.doe@example.com, facilities@example.com]
      attachments:
        count: 4
        names: [printer-error.log, drum.png, order.pdf, test-page.txt]
      entries:
        - {{type: note, by: john.doe, title: Drum unit, text_contains: drum unit is worn out}}
        - {{type: response, by: john.doe, text_contains: new drum unit}}
        - {{type: message, by: requester, text_contains: test page attached}}
  - key: api-with-file
    requester: {{name: Ken Doe, email: ken.doe@example.com}}
    topic: Report a Problem
    subject: Excel crashes on this workbook
    message: The workbook is attached.
    attachments: [files/order.pdf]
    expect:
      attachments: {{count: 1, names: [order.pdf]}}
      collaborators: []
review: {{open_tickets: 2}}
"""


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(SEED))
    assert result.returncode == 0, result.stderr


def write_files(folder: Path) -> None:
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    (files / "printer-error.log").write_text("10:02 E-351 drum unit end of life\n")
    (files / "drum.png").write_bytes(PNG)
    (files / "order.pdf").write_bytes(b"%PDF-1.4\n% order 4711: drum unit DR-2400\n%%EOF\n")
    (files / "test-page.txt").write_text("test page: all colours present\n")


def test_collaborators_and_attachments_arrive_and_hold(osticket: Any, tmp_path: Path) -> None:
    write_files(tmp_path)
    scenario = tmp_path / "collab.yaml"
    scenario.write_text(SCENARIO.format(seed=SEED))
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "john.doe add_collaborator Ken Doe added as a collaborator" in result.stderr
    assert "john.doe note 'Drum unit' with files/drum.png" in result.stderr
    run_id = RUN_ID.search(result.stdout)
    assert run_id, result.stdout
    rows = query(osticket, f"""
        SELECT cd.subject, ue.address, c.flags FROM ost_ticket t
        JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id
        JOIN ost_thread th ON th.object_type = 'T' AND th.object_id = t.ticket_id
        JOIN ost_thread_collaborator c ON c.thread_id = th.id
        JOIN ost_user u ON u.id = c.user_id JOIN ost_user_email ue ON ue.id = u.default_email_id
        WHERE t.ticket_id IN {RUN_TICKETS} ORDER BY c.id""", [f"{run_id.group(1)} cfo-printer"])
    assert [r["address"] for r in rows] == ["cfo.office@example.com", "ken.doe@example.com",
                                            "facilities@example.com"]
    # all CC (0x2); osTicket 1.18.1 leaves them without the active bit (0x1) until an agent saves the list
    assert all(r["flags"] & 2 for r in rows), rows
    files = query(osticket, f"""
        SELECT f.name, f.size, e.type FROM ost_ticket t
        JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id
        JOIN ost_thread th ON th.object_type = 'T' AND th.object_id = t.ticket_id
        JOIN ost_thread_entry e ON e.thread_id = th.id
        JOIN ost_attachment a ON a.object_id = e.id AND a.type = 'H' JOIN ost_file f ON f.id = a.file_id
        WHERE t.ticket_id IN {RUN_TICKETS} ORDER BY e.id""", [f"{run_id.group(1)} cfo-printer"])
    assert [(r["name"], r["type"]) for r in files] == [("printer-error.log", "M"), ("drum.png", "N"),
                                                      ("order.pdf", "R"), ("test-page.txt", "M")]
    assert files[1]["size"] == len(PNG)


def test_a_wrong_expectation_names_what_osticket_holds(osticket: Any, tmp_path: Path) -> None:
    write_files(tmp_path)
    text = (SCENARIO.format(seed=SEED)
            .replace("collaborators: [cfo.office@example.com, ken.doe", "collaborators: [nobody@example.com, ken.doe")
            .replace("count: 4", "count: 3")
            .replace("text_contains: drum unit is worn out", "text_contains: toner is empty"))
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(text)
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "collaborators: expected [facilities@example.com, ken.doe@example.com, nobody@example.com], actual " \
           "[cfo.office@example.com (inactive), ken.doe@example.com (inactive), facilities@example.com (inactive)]" \
           in out
    assert "attachments: expected 3, actual 4 (printer-error.log, drum.png, order.pdf, test-page.txt)" in out
    assert "thread entry note by john.doe titled 'Drum unit' containing 'toner is empty': not in osTicket" in out
    assert "note by john.doe 'Drum unit': 'The drum unit is worn out" in out


def test_bad_attachments_and_collaborators_are_refused_at_load_time(osticket: Any, tmp_path: Path) -> None:
    write_files(tmp_path)
    (tmp_path / "files" / "fake.png").write_text("not a picture")
    (tmp_path / "files" / "big.txt").write_bytes(b"x" * ((1 << 20) + 1))
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        f"name: bad\nseed: {SEED}\ntickets:\n"
        "  - key: bad\n    requester: {name: Ken Doe, email: ken.doe@example.com}\n    channel: portal\n"
        "    topic: Report a Problem\n    subject: s\n    message: m\n"
        "    cc: [ken.doe@example.com]\n"
        "    attachments: [files/order.pdf]\n"
        "    steps:\n"
        "      - {as: john.doe, do: note, text: t, attachments: [files/missing.txt, files/fake.png, files/big.txt]}\n"
        "      - {as: requester, do: reply, text: r, attachments: [files/order.pdf]}\n"
        "      - {as: john.doe, do: add_collaborator, email: not-an-email}\n")
    before = query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"]
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert f"{scenario}:15 tickets[0].steps[2].email" in err  # the schema's round comes first
    scenario.write_text(scenario.read_text().replace("not-an-email", "ken.doe@example.com"))
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert f"{scenario}:10 tickets[0].cc: osTicket 1.18's ticket API and Support Center form take no CC" in err
    assert f"{scenario}:10 tickets[0].cc[0]: the requester cannot be her own collaborator" in err
    # Portal tickets and portal replies take attachments through the Support Center's upload field now.
    assert f"{scenario}:11 tickets[0].attachments" not in err
    assert f"{scenario}:13 tickets[0].steps[0].attachments[0]: attachment 'files/missing.txt': no such file" in err
    assert "steps[0].attachments[1]: attachment 'files/fake.png': named as image/png but it is not such an image" \
        in err
    assert "steps[0].attachments[2]: attachment 'files/big.txt': 1048577 bytes is more than osTicket's default " \
           "maximum file size (1048576 bytes, 1 MiB)" in err
    assert f"{scenario}:14 tickets[0].steps[1].attachments" not in err
    assert f"{scenario}:15 tickets[0].steps[2].email: the requester cannot be her own collaborator" in err
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"] == before


def test_the_default_maximum_file_size_is_the_instances(osticket: Any) -> None:
    rows = query(osticket, "SELECT value FROM ost_config WHERE namespace = 'core' AND `key` = 'max_file_size'")
    assert rows and int(rows[0]["value"]) == 1 << 20


def test_system_notes_are_told_apart_from_agents_notes(osticket: Any, tmp_path: Path) -> None:
    """osTicket logs a file it cannot import as its own note ("File Import Error", poster SYSTEM): here a file
    over its maximum size, sent straight to the API (a scenario refuses it at load time)."""
    inst = osticket.instance
    run_id = "20990101000000-5y5t"
    api = TicketApi(inst.base_url, inst.api_key.get_secret_value(), session=instance_session(inst))
    fake = tmp_path / "screenshot.log"
    fake.write_bytes(b"x" * ((1 << 20) + 1))
    try:
        api.create_ticket(NewTicket(name="Ken Doe", email="ken.doe@example.com", subject=f"Screen {run_tag(run_id, 'sys')}",
                                    message="See the screenshot.", attachments=[fake], alert=False, autorespond=False))
    finally:
        api.close()
    conn = db.connect(inst)
    try:
        facts = read_run(conn, db.Tables(inst.db.table_prefix), run_id)
    finally:
        conn.close()
    assert len(facts) == 1
    system = [e for e in facts[0].entries if e.system]
    assert [(e.type, e.title, e.by) for e in system] == [("N", "File Import Error", "SYSTEM")]
    assert not facts[0].attachments

    def scenario(entries: str) -> Scenario:
        return Scenario.model_validate({"name": "s", "tickets": [{
            "key": "sys", "requester": {"name": "Ken Doe", "email": "ken.doe@example.com"}, "subject": "Screen",
            "message": "See the screenshot.", "expect": {"entries": entries}}], "review": {"open_tickets": 1}})

    holds = verify(scenario([{"type": "note", "by": "system", "title": "File Import Error",
                              "text_contains": "screenshot.log"}]), run_id, facts)
    assert holds.passed, holds.mismatches()
    wrong = verify(scenario([{"type": "note", "by": "john.doe", "title": "File Import Error"}]), run_id, facts)
    assert not wrong.passed
    [line] = wrong.mismatches()
    assert "thread entry note by john.doe titled 'File Import Error': not in osTicket (notes there: #" in line
    assert "system note 'File Import Error': 'screenshot.log" in line
