"""issue 20 §2: ``expect.mail`` on an instance without mail capture is skipped with the reason (console, JSON,
JUnit ``<skipped>``), never a failure, unless ``--require-mail``."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from automation.instance import DatabaseAccess, Instance, Login
from automation.scenarios.junit import junit_xml
from automation.scenarios.loader import load_scenario
from automation.scenarios.mail import Mailbox, mailbox_of, skipped_mail
from automation.scenarios.models import MailExpect
from automation.scenarios.record import RunResult
from automation.scenarios.verify import TicketVerdict, Verdict, verify

LAB = Path(__file__).resolve().parents[2] / "seed" / "scenarios" / "lab.yaml"
REASON = "no local SMTP capture: this azure instance sends its mail through its own relay"


def azure() -> Instance:
    return Instance(kind="azure", url="https://x.example.com/", osticket_version="1.18.3", api_key=SecretStr("K"),
                    admin=Login(username="a", password=SecretStr("p")),
                    db=DatabaseAccess(host="h", name="n", user="u", password=SecretStr("p")))


def test_without_capture_each_expectation_is_named_as_skipped_with_the_reason() -> None:
    expects = [MailExpect(to="karen@example.com", subject_contains="Opened"), MailExpect(to="j@example.com")]
    lines = skipped_mail(expects, mailbox_of(azure()))
    assert len(lines) == 2
    assert lines[0].startswith("mail[0] to karen@example.com subject containing 'Opened': skipped: " + REASON)
    assert skipped_mail(expects, mailbox_of(azure(), required=True)) == []
    assert skipped_mail(expects, Mailbox(Path("/nonexistent"))) == []


def lab_with_mail() -> tuple[object, str]:
    loaded = load_scenario(LAB)
    with_mail = [t for t in loaded.scenario.tickets if t.expect.mail]
    assert with_mail, "the lab scenario expects mail"
    return loaded, with_mail[0].key


def test_a_verdict_with_skipped_mail_passes_and_says_so() -> None:
    _loaded, key = lab_with_mail()
    verdict = Verdict("r", [TicketVerdict(key, "123456", [], [f"mail[0] to k@example.com: skipped: {REASON}"])], [])
    assert verdict.passed
    assert verdict.skipped() == [f"ticket {key} (#123456): mail[0] to k@example.com: skipped: {REASON}"]
    result = RunResult("r", str(LAB), verdict=verdict)
    document = json.loads(json.dumps(result.to_json(), default=str))
    assert document["passed"] is True
    assert document["verification"] == {"passed": True, "mismatches": [], "skipped": verdict.skipped(), "tickets": [
        {"key": key, "number": "123456", "passed": True, "failed": None, "mismatches": [],
         "skipped": [f"mail[0] to k@example.com: skipped: {REASON}"]}]}


def test_junit_reports_skipped_mail_as_skipped_not_failed() -> None:
    loaded, key = lab_with_mail()
    line = f"mail[0] to k@example.com: skipped: {REASON}"
    verdict = Verdict("r", [TicketVerdict(key, "123456", [], [line])], [])
    suite = ET.fromstring(junit_xml(RunResult("r", str(LAB), verdict=verdict), loaded))  # type: ignore[arg-type]
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    (case,) = [c for c in suite.iter("testcase") if c.get("name") == f"{key} / expect.mail"]
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == line
    assert case.find("failure") is None
    verified = [c for c in suite.iter("testcase") if c.get("name") == f"{key} / verified in database"]
    assert verified and verified[0].find("failure") is None
    assert int(suite.get("tests", "0")) == len(list(suite.iter("testcase")))


def test_verify_skips_mail_by_default_and_fails_it_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same ticket: verified (mail skipped) without --require-mail, a mismatch with it. The ticket's other
    checks are stubbed out: only the mail path is under test here."""
    from automation.scenarios import verify as verify_module

    monkeypatch.setattr(verify_module, "check_ticket", lambda spec, found, now, held=None: [])
    loaded, key = lab_with_mail()
    facts = [SimpleNamespace(ticket_id=1, number="123456", key=key, incomplete=[], state="closed")]
    scenario = loaded.scenario  # type: ignore[attr-defined]
    by_default = verify(scenario, "r", facts, dt.datetime(2026, 1, 1), {1}, mailbox=mailbox_of(azure()))  # type: ignore[arg-type]
    ticket = next(t for t in by_default.tickets if t.key == key)
    assert ticket.skipped and not ticket.mismatches
    assert all(": skipped: " + REASON in line for line in ticket.skipped)
    required = verify(scenario, "r", facts, dt.datetime(2026, 1, 1), {1},  # type: ignore[arg-type]
                      mailbox=mailbox_of(azure(), required=True))
    ticket = next(t for t in required.tickets if t.key == key)
    assert ticket.mismatches and all("not checked (--require-mail)" in m for m in ticket.mismatches)
    assert not ticket.skipped and not required.passed
