"""The Support Center (osTicket's client portal) as a requester's browser sends it, as a guest without an account.

- Open a ticket: ``GET open.php?topicId=N`` (the page renders the topic's forms and carries the CSRF token), then
  ``POST open.php`` with ``a=open``, ``topicId``, the contact fields, ``subject``, ``message`` and any field of the
  topic's forms by its name. osTicket's forms render per-session hashed input names but also read a field by its
  plain name (``FormField::getFormNames`` in include/class.forms.php of 1.18.1). osTicket records source ``Web``
  (open.php: ``define('SOURCE','Web')``).
- Check a ticket's status: ``POST login.php`` with ``lemail`` + ``lticket``. With the setting
  ``status_check_email_verification`` off, osTicket signs the guest in at once (login.php redirects to
  tickets.php); with it on it only mails an access link, which automation cannot follow.
- Reply: the ticket's page (tickets.php) has a reply form whose message textarea has a per-session name that
  tickets.php reads by that name only (``$_POST[$messageField->getFormName()]``); it is read from the page.
- Files: both forms carry the message field's file drop box (1.18.1: ``allow_attachments`` defaults to on in
  include/class.config.php and ``ThreadEntryField``'s ``attachments`` option follows it, include/class.forms.php).
  Its script (``FileUploadWidget::render``) sends each file on its own to the URL it names (``ajax.php/form/
  upload/ticket/attach``, field ``upload[]``), osTicket answers ``{"id": N}`` and remembers the file in the
  visitor's session (``FileUploadField::ajaxUpload``), and js/filedrop.field.js adds a hidden input ``id,name``
  under the widget's name; open.php and tickets.php take them with ``$attachments->getFiles()``
  (``FileUploadWidget::getValue`` accepts only files uploaded in this session). Both are read from the page."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from automation.errors import OsTicketUnavailable, StepError
from automation.osticket.http import TIMEOUT, new_session, no_answer, osticket_message

_TOKEN = re.compile(r'name="__CSRFToken__"\s+value="([^"]+)"')
_NOTICE = re.compile(r'id="msg_notice"[^>]*>(.*?)<', re.DOTALL)
_FIELD_ERROR = re.compile(r'<font class="error">\*?(?:&nbsp;|\s)*([^<]+)</font>')
_STATUS = re.compile(r"Ticket Status:?\s*</th>\s*<td>([^<]*)</td>")
_REPLY_TEXTAREA = re.compile(r'<textarea name="([^"]+)" id="message"')
_TOPIC_OPTION = re.compile(r'<option value="(\d+)"')
_UPLOAD_URL = re.compile(r"url: '(ajax\.php/form/upload/[^']*)'")
_UPLOAD_NAME = re.compile(r"^\s*name: '([^']+\[\])'", re.MULTILINE)  # not paramname: 'upload[]'



@dataclass
class PortalTicket:
    name: str
    email: str
    subject: str
    message: str
    topic_id: int
    phone: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # the topic's form fields, by name

    def form(self) -> dict[str, Any]:
        data: dict[str, Any] = {"a": "open", "topicId": self.topic_id, "email": self.email, "name": self.name,
                                "subject": self.subject, "message": self.message}
        if self.phone:
            data["phone"] = self.phone
        data.update(self.fields)
        return data


class Portal:
    """One requester's visits to the Support Center; each visit is a fresh browser session."""

    def __init__(self, base_url: str, timeout: tuple[float, float] = TIMEOUT,
                 new_http: Callable[[], requests.Session] = new_session) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.new_http = new_http  # each visit a fresh session: the instance's (pinned, transport checked)

    def _send(self, http: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.base_url + path
        try:
            response = http.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise OsTicketUnavailable(f"{method} {url}: no answer from the Support Center "
                                      f"({no_answer(http, exc)})") from exc
        if response.status_code >= 500:  # the Support Center down or broken, not refusing the request
            raise OsTicketUnavailable(f"{method} {url}: the Support Center answered HTTP {response.status_code}: "
                                      f"{osticket_message(response.text)}")
        return response

    def _token(self, page: requests.Response, where: str) -> str:
        token = _TOKEN.search(page.text)
        if page.status_code != 200 or token is None:
            raise StepError(f"{self.base_url}{where}: the Support Center answered HTTP {page.status_code} without a "
                            f"form: {osticket_message(page.text)}")
        return token.group(1)

    def _uploads(self, http: requests.Session, form: str, paths: Sequence[Path], where: str) -> dict[str, list[str]]:
        """Each file through the form's drop box, as its script sends it; the hidden ``id,name`` inputs."""
        if not paths:
            return {}
        url, name = _UPLOAD_URL.search(form), _UPLOAD_NAME.search(form)
        if url is None or name is None:
            raise StepError(f"{self.base_url}{where}: the form has no file upload (osTicket's 'Allow attachments' "
                            "is off for the message field)")
        names = []
        for path in paths:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            answer = self._send(http, "POST", url.group(1),
                                files=[("upload[]", (path.name, path.read_bytes(), mime))])
            try:
                file_id = answer.json().get("id") if answer.status_code == 200 else None
            except ValueError:
                file_id = None
            if not file_id:
                raise StepError(f"uploading {path.name} in the Support Center ({where}): HTTP {answer.status_code}: "
                                f"{osticket_message(answer.text)}")
            names.append(f"{file_id},{path.name}")
        return {name.group(1): names}

    def open_ticket(self, ticket: PortalTicket, attachments: Sequence[Path] = ()) -> None:
        """Fill in "Open a New Ticket"; the ticket is found afterwards by its subject (a guest is shown no number)."""
        with self.new_http() as http:
            page = self._send(http, "GET", "open.php", params={"topicId": ticket.topic_id})
            token = self._token(page, "open.php")
            if str(ticket.topic_id) not in _TOPIC_OPTION.findall(page.text):
                raise StepError(f"{self.base_url}open.php: help topic id {ticket.topic_id} is not offered in the "
                                "Support Center (make the topic public and active)")
            files = self._uploads(http, page.text, attachments, "open.php")
            answer = self._send(http, "POST", "open.php", data={"__CSRFToken__": token, **ticket.form(), **files})
        if answer.status_code in (200, 302) and (_NOTICE.search(answer.text) or answer.status_code == 302):
            return
        errors = "; ".join(e.strip() for e in _FIELD_ERROR.findall(answer.text) if e.strip())
        raise StepError(f"opening a ticket in the Support Center as {ticket.email}: HTTP {answer.status_code}: "
                        f"{osticket_message(answer.text)}" + (f" ({errors})" if errors else ""))

    def _sign_in(self, http: requests.Session, email: str, number: str) -> None:
        token = self._token(self._send(http, "GET", "login.php"), "login.php")
        answer = self._send(http, "POST", "login.php", data={"__CSRFToken__": token, "lemail": email,
                                                             "lticket": number})
        if answer.status_code == 302 and "tickets.php" in answer.headers.get("Location", ""):
            return
        text = osticket_message(answer.text)
        if "access link" in text.lower():
            raise StepError(f"the Support Center mailed {email} an access link for #{number} instead of opening the "
                            "ticket: seed `settings.status_check_email_verification: false`")
        raise StepError(f"checking ticket #{number} as {email} in the Support Center: HTTP {answer.status_code}: {text}")

    def _ticket_page(self, http: requests.Session, email: str, number: str) -> requests.Response:
        self._sign_in(http, email, number)
        page = self._send(http, "GET", "tickets.php")
        if page.status_code != 200:
            raise StepError(f"ticket #{number} in the Support Center: HTTP {page.status_code}")
        return page

    def ticket_status(self, email: str, number: str) -> str:
        """The status the requester sees on the ticket's page (e.g. Open, Resolved, Closed)."""
        with self.new_http() as http:
            page = self._ticket_page(http, email, number)
        match = _STATUS.search(page.text)
        if match is None:
            raise StepError(f"ticket #{number} in the Support Center: no ticket status on the page")
        return match.group(1).strip()

    def reply(self, email: str, number: str, ticket_id: int, text: str, attachments: Sequence[Path] = ()) -> None:
        with self.new_http() as http:
            page = self._ticket_page(http, email, number)
            form = page.text[page.text.find('<form id="reply"'):]
            textarea = _REPLY_TEXTAREA.search(form)
            token = _TOKEN.search(form)
            if '<form id="reply"' not in page.text or textarea is None or token is None:
                raise StepError(f"ticket #{number} in the Support Center offers no reply form (closed tickets "
                                "that may not be reopened have none)")
            files = self._uploads(http, form, attachments, f"tickets.php?id={ticket_id}")
            answer = self._send(http, "POST", f"tickets.php?id={ticket_id}",
                                data={"__CSRFToken__": token.group(1), "a": "reply", "id": ticket_id,
                                      textarea.group(1): text, **files})
        if answer.status_code == 200 and _NOTICE.search(answer.text):
            return
        raise StepError(f"replying to #{number} in the Support Center as {email}: HTTP {answer.status_code}: "
                        f"{osticket_message(answer.text)}")
