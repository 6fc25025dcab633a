"""A staff-panel session acting as one named agent: the same requests the agent's browser sends."""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from automation.errors import AuthError, CsrfError, OsTicketUnavailable, StepError
from automation.osticket.http import TIMEOUT, new_session, no_answer, osticket_message

_HIDDEN_TOKEN = re.compile(r'name="__CSRFToken__"\s+value="([^"]+)"')
_META_TOKEN = re.compile(r'<meta name="csrf_token" content="([^"]+)"')
_LOGIN_MESSAGE = re.compile(r'<h3 id="login-message">(.*?)</h3>', re.DOTALL)
_NOTICE = re.compile(r'<p id="msg_notice"[^>]*>(.*?)</p>', re.DOTALL)
_ERROR = re.compile(r'<p id="msg_error"[^>]*>(.*?)</p>', re.DOTALL)
_FIELD_ERROR = re.compile(r'class="error">(?:&nbsp;|\s|\*)*([^<]+)<')


class StaffSession:
    def __init__(self, base_url: str, username: str, password: str, session: requests.Session | None = None,
                 timeout: tuple[float, float] = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.username = username
        self._password = password
        self.http = session or new_session()
        self.timeout = timeout
        self._token: str | None = None

    # -- session -------------------------------------------------------------------------------------------
    def login(self) -> None:
        url = self.base_url + "scp/login.php"
        self.http.cookies.clear()
        page = self._send("GET", url)
        token = _HIDDEN_TOKEN.search(page.text)
        if not token:
            raise CsrfError(f"{url}: no __CSRFToken__ on the login page (is this an osTicket staff panel?)")
        answer = self._send("POST", url, data={"__CSRFToken__": token.group(1), "userid": self.username,
                                               "passwd": self._password, "do": "scplogin"})
        if answer.status_code == 302 and "login.php" not in answer.headers.get("Location", ""):
            self._token = token.group(1)
            return
        message = _LOGIN_MESSAGE.search(answer.text)
        reason = html.unescape(re.sub(r"<[^>]+>", "", message.group(1))).strip() if message else ""
        reason = reason or f"HTTP {answer.status_code}"
        if "excessive" in reason.lower() or "locked" in reason.lower():
            raise AuthError(f"agent {self.username!r} is locked out of {url}: {reason} (wait for "
                            "staff_login_timeout, default 2 minutes, or use a fresh session)")
        raise AuthError(f"agent {self.username!r} could not log in at {url}: {reason}")

    def close(self) -> None:
        self.http.close()
        self._token = None

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.http.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise OsTicketUnavailable(f"{method} {url}: no answer from osTicket ({no_answer(self.http, exc)})") from exc
        if response.status_code >= 500:  # osTicket down or broken, not refusing the action
            raise OsTicketUnavailable(f"{method} {url}: osTicket answered HTTP {response.status_code}: "
                                      f"{osticket_message(response.text)}")
        return response

    def _call(self, method: str, path: str, data: dict[str, Any] | None = None, ajax: bool = True,
              files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> requests.Response:
        """One staff-panel request; an expired session logs in again once, then the request is repeated.
        Repeating is safe: osTicket rejected the first one before acting on it."""
        if not self.logged_in:
            self.login()
        for attempt in (1, 2):
            headers = {"X-CSRFToken": self._token or ""}
            if data is not None and "__CSRFToken__" in data:
                data["__CSRFToken__"] = self._token  # a new session after a re-login has a new token
            if ajax:
                headers["X-Requested-With"] = "XMLHttpRequest"
            response = self._send(method, self.base_url + path, data=data, headers=headers, files=files)
            expired = (response.status_code == 403 and response.text.startswith("Must login")) or (
                response.status_code == 302 and "login.php" in response.headers.get("Location", ""))
            csrf_refused = response.status_code == 400 and "CSRF" in response.text
            if attempt == 1 and (expired or csrf_refused):
                self.login()
                continue
            if csrf_refused:
                raise CsrfError(f"{self.base_url + path}: osTicket refused the CSRF token: {response.text.strip()}")
            return response
        raise AssertionError("unreachable")

    def _ajax(self, path: str, data: dict[str, Any], what: str) -> requests.Response:
        response = self._call("POST", f"scp/ajax.php/{path}", data)
        if response.status_code != 201:
            raise StepError(f"{what} as {self.username}: osTicket answered HTTP {response.status_code}: "
                            f"{osticket_message(response.text)}")
        return response

    def _lock(self, ticket_id: int) -> str:
        response = self._call("POST", f"scp/ajax.php/lock/ticket/{ticket_id}")
        if response.status_code != 200:
            raise StepError(f"locking ticket {ticket_id} as {self.username}: HTTP {response.status_code}: "
                            f"{osticket_message(response.text)}")
        return str(_json(response, "locking the ticket").get("code", ""))

    def _ticket_form(self, ticket_id: int, fields: dict[str, Any], what: str) -> None:
        data = {"id": ticket_id, "lockCode": self._lock(ticket_id), "__CSRFToken__": self._token, **fields}
        response = self._call("POST", f"scp/tickets.php?id={ticket_id}", data, ajax=False)
        if response.status_code == 302 and "login.php" not in response.headers.get("Location", ""):
            return
        raise StepError(f"{what} on ticket {ticket_id} as {self.username}: {osticket_message(response.text)}")

    # -- actions -------------------------------------------------------------------------------------------
    def assign_agent(self, ticket_id: int, staff_id: int, comments: str = "") -> str:
        response = self._ajax(f"tickets/{ticket_id}/assign/agents", {"assignee": f"s{staff_id}", "comments": comments},
                              "assigning an agent")
        return str(_json(response, "assigning").get("msg", ""))

    def assign_team(self, ticket_id: int, team_id: int, comments: str = "") -> str:
        response = self._ajax(f"tickets/{ticket_id}/assign/teams", {"assignee": f"t{team_id}", "comments": comments},
                              "assigning a team")
        return str(_json(response, "assigning").get("msg", ""))

    def transfer(self, ticket_id: int, dept_id: int, comments: str = "") -> None:
        # osTicket answers 201 with its form page even on success (Http::response(201, int) does not exit);
        # the outcome is checked in the database.
        self._ajax(f"tickets/{ticket_id}/transfer", {"dept": dept_id, "comments": comments}, "transferring")

    def change_sla(self, ticket_id: int, sla_id: int, comments: str = "") -> str:
        response = self._ajax(f"tickets/{ticket_id}/field/sla/edit", {"sla_id": sla_id, "comments": comments},
                              "changing the SLA")
        return str(_json(response, "editing a field").get("value", ""))

    def change_priority(self, ticket_id: int, priority_id: int, comments: str = "") -> str:
        response = self._ajax(f"tickets/{ticket_id}/field/priority/edit",
                              {"priority": priority_id, "comments": comments}, "changing the priority")
        return str(_json(response, "editing a field").get("value", ""))

    def set_status(self, ticket_id: int, status_id: int, comments: str = "") -> None:
        self._ajax(f"tickets/{ticket_id}/status", {"status_id": status_id, "comments": comments},
                   "changing the status")

    def post_note(self, ticket_id: int, note: str, title: str = "", attachments: Sequence[Path] = ()) -> None:
        self._ticket_form(ticket_id, {"a": "postnote", "title": title, "note": note, "note_status_id": "",
                                      **self._uploads("attach:note[]", attachments)}, "posting an internal note")

    def reply(self, ticket_id: int, response: str, attachments: Sequence[Path] = ()) -> None:
        self._ticket_form(ticket_id, {"a": "reply", "response": response, "reply-to": "all", "signature": "none",
                                      "reply_status_id": "", "from_email_id": 0, "msgId": "", "draft_id": "",
                                      **self._uploads("attach:response[]", attachments)}, "posting a reply")

    def _uploads(self, field: str, paths: Sequence[Path]) -> dict[str, list[str]]:
        """The reply and note forms' file drop box: each file is first uploaded on its own (``POST
        scp/ajax.php/form/upload/attach`` with ``upload[]``, answered ``{"id": N}`` and remembered in the
        agent's session), then the form names it as ``id,name`` under the field's name (scp/tickets.php names
        them attach:response and attach:note; FileUploadWidget::getValue takes only files of this session)."""
        if not paths:
            return {}
        names = []
        for path in paths:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            response = self._call("POST", "scp/ajax.php/form/upload/attach",
                                  files=[("upload[]", (path.name, path.read_bytes(), mime))])
            if response.status_code != 200:
                raise StepError(f"uploading {path.name} as {self.username}: osTicket answered HTTP "
                                f"{response.status_code}: {osticket_message(response.text)}")
            file_id = _json(response, f"uploading {path.name}").get("id")
            if not file_id:
                raise StepError(f"uploading {path.name} as {self.username}: osTicket kept no file ({response.text[:100]})")
            names.append(f"{file_id},{path.name}")
        return {field: names}

    def add_collaborator(self, thread_id: int, email: str, name: str, user_id: int | None) -> str:
        """The ticket view's "Add a collaborator" dialog: ``POST scp/ajax.php/thread/<thread id>/add-collaborator/
        addcc`` with ``id`` (a known user) or the user form's ``email`` and ``name`` (a new one); osTicket
        answers 200 with the collaborator list and "<name> added as a collaborator" (include/ajax.thread.php,
        ThreadAjaxAPI::addCollaborator in 1.18.1), else its form again with the reason."""
        data: dict[str, Any] = {"id": user_id} if user_id else {"email": email, "name": name}
        response = self._call("POST", f"scp/ajax.php/thread/{thread_id}/add-collaborator/addcc", data)
        notice = _NOTICE.search(response.text)
        if response.status_code == 200 and notice and "collaborator" in notice.group(1):
            return html.unescape(notice.group(1)).strip()
        error = _ERROR.search(response.text)
        reason = html.unescape(error.group(1)).strip() if error else osticket_message(response.text)
        field_errors = [html.unescape(e).strip() for e in _FIELD_ERROR.findall(response.text) if e.strip()]
        raise StepError(f"adding {email} as a collaborator as {self.username}: HTTP {response.status_code}: "
                        f"{reason}" + (f" ({'; '.join(field_errors)})" if field_errors else ""))



def _json(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as exc:
        raise StepError(f"{what}: osTicket answered HTTP {response.status_code} with something that is not JSON: "
                        f"{osticket_message(response.text)}") from exc
    if not isinstance(answer, dict):
        raise StepError(f"{what}: osTicket answered an unexpected JSON value: {str(answer)[:100]}")
    return answer
