"""osTicket's ticket API: ``POST /api/tickets.json``, ``/api/tickets.email`` and ``/api/tasks/cron``."""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import requests

from automation.errors import ApiError, AuthError
from automation.osticket.http import TIMEOUT, new_session, no_answer, osticket_message


@dataclass
class NewTicket:
    """Every field osTicket's JSON ticket API takes (``extra`` carries custom form fields by name)."""

    name: str
    email: str
    subject: str
    message: str
    html: bool = False
    phone: str | None = None
    topic_id: int | None = None
    priority_id: int | None = None
    source: str = "API"
    alert: bool = True
    autorespond: bool = True
    ip: str | None = None
    attachments: list[Path] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "email": self.email,
            "subject": self.subject,
            "message": ("data:text/html," + self.message) if self.html else self.message,
            "source": self.source,
            "alert": self.alert,
            "autorespond": self.autorespond,
        }
        optional = {"phone": self.phone, "topicId": self.topic_id, "priority": self.priority_id, "ip": self.ip}
        body.update({key: value for key, value in optional.items() if value is not None})
        if self.attachments:
            body["attachments"] = [_data_url(path) for path in self.attachments]
        body.update(self.extra)
        return body


def _data_url(path: Path) -> dict[str, str]:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    encoded = base64.b64encode(path.read_bytes()).decode()
    return {path.name: f"data:{mime};base64,{encoded}"}


class TicketApi:
    def __init__(self, base_url: str, api_key: str, session: requests.Session | None = None,
                 timeout: tuple[float, float] = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._key = api_key
        self.session = session or new_session()
        self.timeout = timeout

    def close(self) -> None:
        self.session.close()

    def _post(self, path: str, data: bytes | str, content_type: str) -> str:
        url = self.base_url + path
        try:
            response = self.session.post(url, data=data, timeout=self.timeout,
                                         headers={"X-API-Key": self._key, "Content-Type": content_type})
        except requests.ConnectTimeout as exc:
            raise ApiError(0, f"could not connect (ConnectTimeout after {self.timeout[0]:.0f} s a try); nothing "
                              "was sent", url) from exc
        except requests.Timeout as exc:
            raise ApiError(0, f"no answer within {self.timeout[1]:.0f} s ({no_answer(self.session, exc)}); osTicket "
                              "may still complete the request, so it was not sent again", url) from exc
        except requests.RequestException as exc:
            raise ApiError(0, f"could not connect, or the connection broke ({exc.__class__.__name__})", url) from exc
        body = response.text.strip()
        if response.status_code == 401:
            raise AuthError(f"osTicket refused the API key at {url} (HTTP 401): {body}; check the key and that it is "
                            "bound to this machine's address")
        if response.status_code not in (200, 201):
            # osTicket answers its API errors in plain text; an HTML page comes from the web server in front.
            raise ApiError(response.status_code, osticket_message(body) if body.startswith("<") else body, url)
        return body

    def create_ticket(self, ticket: NewTicket) -> str:
        """Create one ticket; returns its *number*. Never re-sent: a POST that timed out may have landed."""
        return self._post("api/tickets.json", json.dumps(ticket.payload()), "application/json")

    def post_email(self, message: EmailMessage) -> str:
        """Feed a raw RFC 822 message; a subject carrying ``[#number]`` threads onto that ticket."""
        return self._post("api/tickets.email", message.as_bytes(), "message/rfc822")

    def run_cron(self) -> str:
        return self._post("api/tasks/cron", b"", "text/plain")


def requester_email(from_name: str, from_email: str, to: str, subject: str, body: str, cc: list[str] | None = None,
                    attachments: list[Path] | None = None) -> EmailMessage:
    """``cc`` become the ticket's collaborators (osTicket adds the Cc of a mail to a system address when its
    setting add_email_collabs is on, the default); ``attachments`` the entry's files."""
    message = EmailMessage()
    message["From"] = f"{from_name} <{from_email}>"
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=from_email.rsplit("@", 1)[-1])
    message.set_content(body)
    for path in attachments or []:
        maintype, _, subtype = (mimetypes.guess_type(path.name)[0] or "application/octet-stream").partition("/")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message
