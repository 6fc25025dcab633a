"""What osTicket sent: the .eml files the local SMTP server kept (automation/local/smtpd.py), read back, and
the scenario's ``expect.mail`` checked against the messages about one ticket."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses
from pathlib import Path

from automation.errors import ConfigError
from automation.instance import Instance
from automation.osticket.text import paragraphs, shown
from automation.scenarios.models import MailExpect

MAIL_DIR = "mail"  # beside instance.json; the name automation.local.smtpd writes to
_SUBJECT_NUMBER = re.compile(r"\[#([A-Za-z0-9-]+)\]")
_BODY_NUMBER = re.compile(r"(?<![&\w])#([0-9][A-Za-z0-9-]*)")


@dataclass
class MailMessage:
    file: str
    received: dt.datetime  # when the SMTP server stored it (UTC), from the file's name
    sender: str
    to: list[str]
    subject: str
    body: str  # plain text, whitespace runs made one space
    numbers: list[str] = field(default_factory=list)  # ticket numbers named in the subject, then the body
    message_id: str = ""  # the Message-ID header, without its angle brackets

    def is_about(self, number: str) -> bool:
        return number in self.numbers or re.search(rf"(?<![\w-]){re.escape(number)}(?![\w-])",
                                                   self.subject + " " + self.body) is not None

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "received": self.received.isoformat(timespec="milliseconds"),
                "from": self.sender, "to": self.to, "subject": self.subject,
                "ticket": self.numbers[0] if self.numbers else None, "message_id": self.message_id or None}


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html", "plain"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        content = part.get_payload(decode=True) or b""
        content = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return shown(str(content), "html" if part.get_content_subtype() == "html" else "plain")


def parse(path: Path) -> MailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    envelope = str(message.get("X-Envelope-To", ""))
    headers = [envelope] if envelope else [str(v) for v in message.get_all("To", []) + message.get_all("Cc", [])]
    to = [address for _, address in getaddresses(headers) if address]
    subject = " ".join(str(message.get("Subject", "")).split())
    body = _body(message)
    numbers = _SUBJECT_NUMBER.findall(subject) + list(_BODY_NUMBER.findall(body))
    try:
        received = dt.datetime.fromtimestamp(int(path.name.split("-", 1)[0]) / 1e9, dt.UTC)
    except ValueError:
        received = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return MailMessage(path.name, received, str(message.get("From", "")), to, subject, body,
                       list(dict.fromkeys(numbers)), _message_id(str(message.get("Message-ID", ""))))


def _message_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">")


@dataclass
class MailView:
    """One message as a person reads it: its headers, then its text (the plain part, else the HTML part
    reduced to text; both when they differ, the HTML one as ``html_text``)."""

    file: str
    received: dt.datetime
    headers: list[tuple[str, str]]  # From, To, Cc, Subject, Date, Message-ID: those present, in that order
    text: str
    html_text: str = ""
    attachments: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key.casefold() == name.casefold()), "")

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "received": self.received.isoformat(timespec="milliseconds"),
                "headers": dict(self.headers), "text": self.text, "html_text": self.html_text or None,
                "attachments": self.attachments}


VIEW_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


def _part_text(part: MIMEPart, format: str) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        content = part.get_payload(decode=True) or b""
        content = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return paragraphs(str(content), format)


def view(path: Path) -> MailView:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    headers = [(name, " ".join(" ".join(str(v) for v in message.get_all(name, [])).split()))
               for name in VIEW_HEADERS if message.get_all(name)]
    plain, rich = message.get_body(preferencelist=("plain",)), message.get_body(preferencelist=("html",))
    text = _part_text(plain, "plain") if plain is not None else ""
    html_text = _part_text(rich, "html") if rich is not None else ""
    if not text:
        text, html_text = html_text, ""
    elif " ".join(html_text.split()) == " ".join(text.split()):
        html_text = ""
    attachments = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
    return MailView(path.name, parse(path).received, headers, text, html_text, attachments)


@dataclass(frozen=True)
class Mailbox:
    """The mail folder of an instance, or why there is none (``unavailable``).

    Without a folder ``expect.mail`` is skipped with that reason, unless ``required`` (``--require-mail``):
    then each expectation is a mismatch."""

    folder: Path | None
    unavailable: str = ""
    required: bool = False

    def find(self, ref: str) -> Path:
        """The file of one message: ``ref`` is its number in `ostops mail`'s list (1 is the first kept), its
        Message-ID (angle brackets optional) or its file name. A ``ConfigError`` says what there is."""
        files = sorted(self.folder.glob("*.eml")) if self.folder is not None and self.folder.is_dir() else []
        if ref.strip().isdigit():
            index = int(ref)
            if 1 <= index <= len(files):
                return files[index - 1]
            raise ConfigError(f"no message {index} in {self.folder}: {len(files)} kept "
                              f"({'1-' + str(len(files)) if files else 'none yet'}); see `ostops mail`")
        wanted = _message_id(ref)
        for path in files:
            if path.name == ref or parse(path).message_id == wanted:
                return path
        raise ConfigError(f"no message with the id or file name {ref!r} in {self.folder}; see `ostops mail` "
                          "(the # column, or --json for the ids)")

    def messages(self) -> list[MailMessage]:
        """Every message kept, in order of arrival (the files' names sort so)."""
        if self.folder is None or not self.folder.is_dir():
            return []
        return [parse(path) for path in sorted(self.folder.glob("*.eml"))]


def mailbox_of(instance: Instance, required: bool = False) -> Mailbox:
    local = instance.local
    if local is None:
        return Mailbox(None, f"no local SMTP capture: this {instance.kind} instance sends its mail through its own "
                             "relay (if one is configured), which ostops does not read", required)
    if local.smtp_port is None:
        return Mailbox(None, f"no local SMTP capture: the instance in {local.dir} was made before `ostops local up` "
                             "caught mail; rebuild it with `ostops local up --fresh`", required)
    return Mailbox(Path(local.dir) / MAIL_DIR, required=required)


def select(messages: Iterable[MailMessage], numbers: Sequence[str] = (), to: str | None = None) -> list[MailMessage]:
    """The messages about any of ``numbers`` (all when empty) sent to ``to`` (anyone when None)."""
    wanted = (to or "").casefold()
    return [m for m in messages
            if (not numbers or any(m.is_about(n) for n in numbers))
            and (not wanted or any(a.casefold() == wanted for a in m.to))]


def _describe(expect: MailExpect) -> str:
    parts = [f"to {expect.to}"]
    if expect.subject_contains:
        parts.append(f"subject containing {expect.subject_contains!r}")
    if expect.body_contains:
        parts.append(f"body containing {expect.body_contains!r}")
    return " ".join(parts)


def matching(expect: MailExpect, about: Sequence[MailMessage]) -> list[MailMessage]:
    """The messages (of those about one ticket) that an expectation is about."""
    subject = (expect.subject_contains or "").casefold()
    body = " ".join((expect.body_contains or "").split()).casefold()
    return [m for m in select(about, to=str(expect.to)) if subject in m.subject.casefold() and body in m.body.casefold()]


def check_mail(expects: Sequence[MailExpect], number: str, mailbox: Mailbox,
               held: list[str] | None = None) -> list[str]:
    """Each expectation against the messages about ticket ``number``: ``count`` exactly, else at least one.
    ``held`` receives a line for each expectation that holds."""
    if not expects:
        return []
    if mailbox.folder is None:
        if not mailbox.required:
            return []  # skipped_mail names them
        return [f"mail[{i}] {_describe(e)}: not checked (--require-mail): {mailbox.unavailable}"
                for i, e in enumerate(expects)]
    about = select(mailbox.messages(), [number])
    problems = []
    for i, expect in enumerate(expects):
        found = matching(expect, about)
        if (len(found) == expect.count) if expect.count is not None else found:
            if held is not None:
                held.append(f"mail {_describe(expect)}: {len(found)} message(s)")
            continue
        wanted = f"{expect.count}" if expect.count is not None else "at least 1"
        seen = "; ".join(f"to {', '.join(m.to)} {m.subject!r}" for m in about[:6]) or "none"
        problems.append(f"mail[{i}] {_describe(expect)}: expected {wanted} message(s), found {len(found)} "
                        f"(about #{number}: {len(about)} message(s): {seen})")
    return problems


def skipped_mail(expects: Sequence[MailExpect], mailbox: Mailbox) -> list[str]:
    """The expectations that cannot be checked here (no mail folder, not required), each with the reason."""
    if mailbox.folder is not None or mailbox.required:
        return []
    return [f"mail[{i}] {_describe(e)}: skipped: {mailbox.unavailable}" for i, e in enumerate(expects)]
