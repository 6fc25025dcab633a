"""Caught mail: the SMTP server's files, reading them back, ``expect.mail`` and its bad input (file:line, exit 2)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import processes, smtpd
from automation.scenarios.mail import Mailbox, check_mail, mailbox_of, parse, select
from automation.scenarios.models import MailExpect
from tests.helpers.scenario_input import assert_named_at, run_refused

HEAD = ("name: t\ntickets:\n  - key: a\n    requester: {name: K, email: k@example.com}\n    subject: S\n"
        "    message: M\n    expect:\n      mail:\n")


def _message(to: str, subject: str, html: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Support <helpdesk@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("plain fallback")
    message.add_alternative(html, subtype="html")
    return bytes(message)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir()
    smtpd.store(folder, smtpd.message_bytes("helpdesk@example.com", ["karen@example.com"], _message(
        "Karen <karen@example.com>", "Support Ticket Opened [#123456]",
        "<p>A request for support has been created and assigned #123456.</p>")), 1)
    smtpd.store(folder, smtpd.message_bytes("helpdesk@example.com", ["karen@example.com"], _message(
        "karen@example.com", "Re: Banking down [#123456]", "<p>Online banking is&nbsp;<b>restored</b>: we rolled "
        "back this morning&#39;s update.</p>")), 2)
    smtpd.store(folder, smtpd.message_bytes("alerts@example.com", ["john@example.com"], _message(
        "john@example.com", "New Ticket Alert", "<p>New ticket #654321 created</p>")), 3)
    return folder


def test_stored_files_sort_by_arrival_and_read_back(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 3 and all(n.endswith(".eml") for n in names)
    assert not list(folder.glob(".incoming-*")), "no temporary file is left behind"
    messages = Mailbox(folder).messages()
    assert [m.subject for m in messages] == ["Support Ticket Opened [#123456]", "Re: Banking down [#123456]",
                                             "New Ticket Alert"]
    assert messages[0].to == ["karen@example.com"] and messages[0].numbers == ["123456"]
    assert messages[2].numbers == ["654321"], "a ticket number found in the body"
    assert "this morning's update" in messages[1].body, "HTML reduced to text, entities decoded"
    assert [m.subject for m in select(messages, ["654321"])] == ["New Ticket Alert"]
    assert len(select(messages, to="KAREN@example.com")) == 2


def test_expectations_pass_and_fail_with_what_was_sent(tmp_path: Path) -> None:
    box = Mailbox(_folder(tmp_path))
    good = [MailExpect(to="karen@example.com", subject_contains="ticket opened", count=1),
            MailExpect(to="karen@example.com", body_contains="Online banking is restored")]
    assert check_mail(good, "123456", box) == []
    bad = [MailExpect(to="karen@example.com", subject_contains="Re:", count=2),
           MailExpect(to="john@example.com")]
    problems = check_mail(bad, "123456", box)
    assert len(problems) == 2
    assert problems[0].startswith("mail[0] to karen@example.com subject containing 'Re:': expected 2 message(s), "
                                  "found 1 (about #123456: 2 message(s)")
    assert "mail[1] to john@example.com: expected at least 1 message(s), found 0" in problems[1]
    assert check_mail([MailExpect(to="karen@example.com", count=0)], "999999", box) == []


def test_an_instance_without_capture_fails_the_expectation_only_when_mail_is_required() -> None:
    inst = Instance(kind="azure", url="https://x.example.com/", osticket_version="1.18.3", api_key=SecretStr("K"),
                    admin=Login(username="a", password=SecretStr("p")),
                    db=DatabaseAccess(host="h", name="n", user="u", password=SecretStr("p")))
    assert check_mail([MailExpect(to="k@example.com")], "1", mailbox_of(inst)) == []
    problems = check_mail([MailExpect(to="k@example.com")], "1", mailbox_of(inst, required=True))
    assert problems == [("mail[0] to k@example.com: not checked (--require-mail): no local SMTP capture: this azure "
                        "instance sends its mail through its own relay (if one is configured), which ostops does "
                        "not read")]
    inst.local = LocalProcesses(dir="/tmp/old", webroot="w", source="s", http_port=1, fpm_port=2, db_port=3,
                                db_root_password=SecretStr("r"))
    assert "made before `ostops local up` caught mail" in mailbox_of(inst).unavailable


def test_the_server_keeps_what_it_is_sent_and_stops(tmp_path: Path) -> None:
    port = processes.free_port()
    pid = smtpd.start(tmp_path, port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("helpdesk@example.com", ["karen@example.com", "ken@example.com"],
                            _message("karen@example.com", "Hello [#42]", "<p>hi</p>"))
        (message,) = Mailbox(tmp_path / "mail").messages()
        assert message.to == ["karen@example.com", "ken@example.com"], "the envelope's recipients"
        assert (tmp_path / "mail" / message.file).stat().st_mode & 0o777 == 0o600
        assert processes.is_running(pid, smtpd.PROGRAM, str(tmp_path) + "/")
    finally:
        processes.stop(pid, smtpd.PROGRAM, str(tmp_path) + "/")
    assert not processes.is_running(pid, smtpd.PROGRAM)


BAD = {
    "bad_address": ("        - {to: karen}\n", 9, "tickets[0].expect.mail[0].to"),
    "negative_count": ("        - {to: k@example.com, count: -1}\n", 9, "tickets[0].expect.mail[0].count"),
    "unknown_field": ("        - {to: k@example.com, cc: x@example.com}\n", 9, "tickets[0].expect.mail[0].cc"),
    "empty_subject": ("        - {to: k@example.com, subject_contains: ''}\n", 9, "subject_contains"),
    "no_recipient": ("        - {subject_contains: Opened}\n", 9, "tickets[0].expect.mail[0].to"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_mail_expectations_name_file_and_line(tmp_path: Path, name: str) -> None:
    lines, line, words = BAD[name]
    assert_named_at(tmp_path / "s.yaml", HEAD + lines, line, words)


def test_cli_exits_2_for_a_bad_mail_expectation(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    assert f"{path}:9" in run_refused(path, HEAD + "        - {to: k@example.com, count: many}\n")


def test_parse_uses_the_headers_without_an_envelope(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000001-000001.eml"
    path.write_bytes(_message("A <a@example.com>, b@example.com", "x", "<p>y</p>"))
    assert parse(path).to == ["a@example.com", "b@example.com"]
