"""Issue 15: real outgoing mail. osTicket sends through `local up`'s SMTP server, which keeps each message as an
.eml file; `ostops mail` lists them and `expect.mail` holds a run to them, passing and failing."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from automation.local import manager, processes
from tests.helpers.osticket import OSTOPS, REPO, ostops, query

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: Any) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stderr


def test_osticket_sends_through_the_local_smtp_account(osticket: Any) -> None:
    (account,) = query(osticket, "SELECT a.id, a.type, a.auth_bk, a.active, a.host, a.port, a.encryption, e.email "
                                 "FROM ost_email_account a JOIN ost_email e ON e.email_id = a.email_id")
    assert account["type"] == "smtp" and account["auth_bk"] == "none" and account["active"] == 1
    assert (account["host"], account["port"]) == ("127.0.0.1", osticket.instance.local.smtp_port)
    assert account["email"] == "helpdesk@example.com"
    config = {r["key"]: r["value"] for r in query(
        osticket, "SELECT `key`, value FROM ost_config WHERE namespace = 'core' AND `key` IN "
                  "('default_smtp_id', 'ticket_autoresponder')")}
    assert config == {"default_smtp_id": str(account["id"]), "ticket_autoresponder": "1"}  # the seed set it


def test_the_lab_s_mail_is_caught_listed_and_expected(osticket: Any) -> None:
    result = ostops(osticket, "run", str(REPO / "seed" / "scenarios" / "lab.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    run_id = match.group(1)
    record = json.loads((osticket.base / "runs" / f"{run_id}.json").read_text())
    numbers = {key: str(t["number"]) for key, t in record["tickets"].items()}

    listed = ostops(osticket, "mail", "--run", run_id, "--to", "karen.doe@example.com", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["command"] == "mail" and doc["ok"] is True
    banking = [m for m in doc["messages"] if m["ticket"] == numbers["online-banking-down"]]
    assert [m["subject"] for m in banking] == [
        f"Support Ticket Opened [#{numbers['online-banking-down']}]",
        f"Re: Entire mobile/online banking system is down [#{numbers['online-banking-down']}]"]
    assert all(m["to"] == ["karen.doe@example.com"] for m in doc["messages"])
    assert {m["ticket"] for m in doc["messages"]} == {numbers["online-banking-down"], numbers["cfo-laptop-dead"]}
    for message in doc["messages"]:
        assert (osticket.base / "mail" / message["file"]).read_bytes().startswith(b"X-Envelope-From: ")
    everyone = json.loads(ostops(osticket, "mail", "--run", run_id, "--json").stdout)["messages"]
    assert {"ken.doe@example.com", "jane.doe@example.com", "john.doe@example.com"} <= {
        a for m in everyone for a in m["to"]}
    assert [m["file"] for m in everyone] == sorted(m["file"] for m in everyone), "listed in order of arrival"

    table = subprocess.run([OSTOPS, "mail", "--run", run_id, "--to", "ken.doe@example.com", "--instance",
                            str(osticket.instance_path)], capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "COLUMNS": "250"})  # a wide terminal: the subject on one line
    assert table.returncode == 0 and "Support Ticket Opened" in table.stdout
    assert "karen.doe" not in table.stdout
    again = ostops(osticket, "verify", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--run", run_id)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_mail_expectation_that_does_not_hold_fails_the_run(osticket: Any, tmp_path: Path) -> None:
    scenario = tmp_path / "mail.yaml"
    scenario.write_text(
        "name: mail\nseed: " + str(REPO / "seed" / "helpdesk.yaml") + "\ntickets:\n"
        "  - key: mailed\n    requester: {name: Ken Doe, email: ken.doe@example.com}\n    channel: portal\n"
        "    topic: Report a Problem\n    subject: Scanner offline\n    message: The scanner is offline.\n"
        "    expect:\n      mail:\n"
        "        - {to: ken.doe@example.com, subject_contains: Support Ticket Opened, count: 1}\n"
        "        - {to: ken.doe@example.com, subject_contains: Support Ticket Opened, count: 2}\n"
        "        - {to: cfo@example.com}\n"
        "review: {open_tickets: 1}\n")
    result = ostops(osticket, "run", str(scenario))
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert "mail[0]" not in text, "the first expectation holds"
    assert ("mail[1] to ken.doe@example.com subject containing 'Support Ticket Opened': expected 2 message(s), "
            "found 1") in text
    assert "mail[2] to cfo@example.com: expected at least 1 message(s), found 0" in text


def test_status_shows_the_smtp_server_process(osticket: Any) -> None:
    status = json.loads(ostops(osticket, "local", "status", "--json").stdout)
    # The instance file's pid: an earlier test of the session may have restarted the instance's servers.
    from automation.instance import Instance

    pid = Instance.load(osticket.instance_path).local.pids["smtpd"]
    assert status["checks"]["process smtpd"] == {"ok": True, "detail": f"pid {pid}"}
    assert processes.is_running(pid, manager.SERVICES["smtpd"], osticket.instance.local.dir + "/")


def test_without_mail_capture_expect_mail_is_skipped_unless_required(osticket: Any, tmp_path: Path) -> None:
    """Issue 20 §2: the same osTicket seen as an instance without capture (no `local` block, as on Azure): the lab
    passes with each expect.mail skipped and its reason (console, --json, --junit); --require-mail fails it."""
    import shutil
    import subprocess
    import xml.etree.ElementTree as ET

    from automation.paths import CREDENTIALS_FILE
    from tests.helpers.osticket import OSTOPS

    document = json.loads(osticket.instance_path.read_text(encoding="utf-8"))
    document.pop("local", None)
    document["kind"] = "azure"
    instance = tmp_path / "instance.json"
    instance.write_text(json.dumps(document), encoding="utf-8")
    instance.chmod(0o600)
    shutil.copy2(osticket.instance_path.parent / CREDENTIALS_FILE, tmp_path / CREDENTIALS_FILE)
    lab = str(REPO / "seed" / "scenarios" / "lab.yaml")

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OSTOPS, "run", lab, *extra, "--instance", str(instance)], capture_output=True,
                              text=True, timeout=300, cwd=REPO, check=False)

    junit, report = tmp_path / "lab.xml", tmp_path / "lab.json"
    result = run("--junit", str(junit), "--json-file", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert "skipped" in output and "no local SMTP capture: this azure instance" in output
    verification = json.loads(report.read_text(encoding="utf-8"))["verification"]
    assert verification["passed"] is True and verification["mismatches"] == []
    assert verification["skipped"] and all(": skipped: no local SMTP capture" in s for s in verification["skipped"])
    suite = ET.fromstring(junit.read_text(encoding="utf-8"))
    assert suite.get("failures") == "0" and int(suite.get("skipped", "0")) >= 1
    skipped = [c for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped and all(c.get("name", "").endswith(" / expect.mail") for c in skipped)

    required = run("--require-mail")
    assert required.returncode == 1, required.stdout + required.stderr
    assert "not checked (--require-mail)" in " ".join((required.stdout + required.stderr).split())
