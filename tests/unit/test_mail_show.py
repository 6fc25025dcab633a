"""``ostops mail show N``: one captured message, readably (headers, the text part, an HTML part as text)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner
from pydantic import SecretStr

from automation.cli import cli, exit_code_for
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import smtpd
from automation.osticket.text import paragraphs
from automation.scenarios.mail import Mailbox, view

SUBJECT = "Re: Café & <Ümlaut> down — 网银 [#123456]"


def _message(subject: str, plain: str | None, html: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Support <helpdesk@example.com>"
    message["To"] = "Karen Doe <karen@example.com>"
    message["Subject"] = subject
    message["Date"] = "Sun, 06 Dec 2026 12:00:00 +0000"
    message["Message-ID"] = f"<{abs(hash(subject))}@example.com>"
    if plain is None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(plain)
        message.add_alternative(html, subtype="html")
    return bytes(message)


def _instance(tmp_path: Path) -> Path:
    folder = tmp_path / "local" / "mail"
    folder.mkdir(parents=True)
    smtpd.store(folder, smtpd.message_bytes("helpdesk@example.com", ["karen@example.com"], _message(
        "Support Ticket Opened [#123456]", "plain opened", "<p>opened</p>")), 1)
    smtpd.store(folder, smtpd.message_bytes("helpdesk@example.com", ["karen@example.com"], _message(
        SUBJECT, None, "<p>Online banking is&nbsp;<b>restored</b>:</p><p>we rolled back this morning&#39;s "
                       "update &amp; the app.</p>")), 2)
    inst = Instance(kind="local", url="http://127.0.0.1:1/", osticket_version="1.18.1", api_key=SecretStr("K"),
                    admin=Login(username="a", password=SecretStr("p")),
                    db=DatabaseAccess(host="h", name="n", user="u", password=SecretStr("p")),
                    local=LocalProcesses(dir=str(tmp_path / "local"), webroot="w", source="s", http_port=1,
                                         fpm_port=2, db_port=3, db_root_password=SecretStr("r"), smtp_port=4))
    path = tmp_path / "instance.json"
    inst.save(path)
    return path


def test_paragraphs_keep_the_html_parts_blocks_as_lines() -> None:
    assert paragraphs("<p>Hello&nbsp;<b>Karen</b>,</p>\n\n<p>two<br>three &amp; four</p>") == (
        "Hello Karen,\ntwo\nthree & four")
    assert paragraphs("") == ""


def test_view_reads_headers_and_reduces_an_html_only_message(tmp_path: Path) -> None:
    path = _instance(tmp_path)
    second = sorted((path.parent / "local" / "mail").glob("*.eml"))[1]
    message = view(second)
    assert message.header("subject") == SUBJECT
    assert message.header("To") == "Karen Doe <karen@example.com>"
    assert message.text == "Online banking is restored:\nwe rolled back this morning's update & the app."
    assert message.html_text == "", "an HTML-only message has its HTML as the text"


def test_mail_show_by_index_and_by_message_id(tmp_path: Path) -> None:
    path = _instance(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(cli, ["mail", "--instance", str(path)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "ostops mail show N" in listed.output
    shown = runner.invoke(cli, ["mail", "show", "2", "--instance", str(path)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "From:       Support <helpdesk@example.com>"
    assert f"Subject:    {SUBJECT}" in lines
    assert "we rolled back this morning's update & the app." in lines
    assert "<p>" not in shown.output and "&amp;" not in shown.output
    first = runner.invoke(cli, ["mail", "show", "1", "--instance", str(path)])
    assert "plain opened" in first.output and "--- the HTML part, as text ---" in first.output
    ident = Mailbox(path.parent / "local" / "mail").messages()[1].message_id
    by_id = runner.invoke(cli, ["mail", "show", f"<{ident}>", "--json", "--instance", str(path)])
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.output)["message"]["headers"]["Subject"] == SUBJECT


def test_mail_show_names_what_there_is_when_n_is_wrong(tmp_path: Path) -> None:
    path = _instance(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["mail", "show", "3", "--instance", str(path)])
    assert result.exception is not None and exit_code_for(result.exception) == 2
    assert "no message 3" in str(result.exception) and "2 kept (1-2)" in str(result.exception)
    result = runner.invoke(cli, ["mail", "show", "nope@example.com", "--instance", str(path)])
    assert result.exception is not None and exit_code_for(result.exception) == 2
    assert "no message with the id or file name 'nope@example.com'" in str(result.exception)
