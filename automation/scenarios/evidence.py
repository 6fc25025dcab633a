"""Evidence of a run: after each step, a real browser shows the page the person who acted would be looking at,
and the screenshots become a write-up (``writeup.py``) in one folder.

Chromium is Debian's ``chromium`` package, driven by Playwright (PyPI) with ``executable_path``: no browser is
downloaded. (Playwright's BrowserType.launch: "Path to a browser executable to run instead of the bundled one
... Playwright only works with the bundled Chromium ... use at your own risk", playwright.sync_api._generated
and https://playwright.dev/docs/api/class-browsertype#browser-type-launch; the e2e test is what shows the
pairing works: Playwright 1.65 with Debian 12's Chromium 156.) Agents log in to the staff panel through its login form, one browser context each; a requester
opens her ticket in the Support Center's "Check Ticket Status" form with her e-mail and the ticket number, one
context per ticket. The browser only reads: every action is the runner's. Requests to anything but the help
desk are refused (avatars from the internet, say), so the pictures depend on nothing outside this machine.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from automation.errors import EvidenceError, EvidenceUnavailable
from automation.scenarios import writeup
from automation.scenarios.mail import Mailbox, MailMessage, matching, select, view
from automation.scenarios.models import REQUESTER, Scenario, TicketSpec
from automation.scenarios.reactions import reaction_in
from automation.scenarios.report import Report
from automation.scenarios.review_html import render_html
from automation.scenarios.verify import Verdict
from automation.scenarios.writeup import MANIFEST, PDF, SHOTS, Check, MailShown, Shot, TicketStory, WriteUp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Playwright

WIDTH, HEIGHT = 1280, 900
TIMEOUT_MS = 30_000  # every navigation and wait of the browser
CHROMIUM_ENV = "OSTOPS_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
INSTALL_HINT = "install Debian's chromium package (apt-get install chromium fonts-liberation) or set " + CHROMIUM_ENV

# What each staff action changes, as the ticket view labels it (row headers of osTicket 1.18's
# include/staff/ticket-view.inc.php), and the thread entry it adds (classes of its thread-entry template).
STAFF_ROWS: dict[str, list[str]] = {
    "change_sla": ["SLA Plan", "Due Date"],
    "assign_agent": ["Assigned To"],
    "assign_team": ["Assigned To"],
    "transfer": ["Department"],
    "change_priority": ["Priority"],
    "set_status": ["Status", "Closed By", "Close Date"],
}
STAFF_ENTRY = {"note": "note", "reply": "response"}
# The staff ticket view's overdue flag: include/staff/ticket-view.inc.php of 1.18.1 writes
# <span class="Icon overdueTicket">Marked overdue!</span> when Ticket::isOverdue().
OVERDUE_FLAG = "span.overdueTicket"

# Runs in the page before each picture: password fields emptied (whatever the page), the staff panel's
# floating toolbar put back in its place (the ticket view scrolls itself down, and a full-page picture would
# show the floating bar mid-page), pictures that could not load (avatars from the internet) hidden, and the
# changed rows / newest entry / listed tickets outlined. The toolbar floats 1 ms after a scroll event
# (osTicket 1.18 scp/js/scp.js, the "scroll.sticky" handler: setTimeout(addClass('fixed') + animate, 1)), so
# after its handler is removed one more turn of the event loop lets a pending float happen before it is undone.
_PREPARE = """async ([labels, entryClass, numbers, marks]) => {
  for (const input of document.querySelectorAll('input[type=password]')) { input.value = ''; }
  const $ = window.jQuery;
  if ($) { $(window).off('.sticky'); }
  const keep = document.createElement('style');  // should a float still come, it stays in its place
  keep.textContent = '.sticky.bar.fixed{position:static!important}.sticky.placeholder{height:0!important}';
  document.head.appendChild(keep);
  if (document.activeElement) { document.activeElement.blur(); }
  window.scrollTo(0, 0);
  await new Promise((resolve) => setTimeout(resolve, 20));
  if ($) { $('div.sticky.bar').stop(true, true); }
  for (const bar of document.querySelectorAll('.sticky.bar.fixed')) { bar.classList.remove('fixed'); bar.style.top = ''; }
  for (const spacer of document.querySelectorAll('.sticky.placeholder')) { spacer.removeAttribute('style'); }
  for (const img of document.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0) { img.style.visibility = 'hidden'; }
  }
  const found = [];
  const mark = (el) => {
    el.style.outline = '3px solid #e8590c'; el.style.outlineOffset = '1px'; el.style.background = '#fff3bf';
  };
  for (const th of document.querySelectorAll('th')) {
    const label = th.textContent.trim().replace(/:$/, '');
    if (labels.includes(label) && th.parentElement && !found.includes(label)) { mark(th.parentElement); found.push(label); }
  }
  if (entryClass) {
    const entries = document.querySelectorAll('.thread-entry.' + entryClass);
    if (entries.length) { mark(entries[entries.length - 1]); found.push('the newest ' + entryClass); }
  }
  for (const row of document.querySelectorAll('tr')) {
    const link = [...row.querySelectorAll('a')].find((a) => numbers.includes(a.textContent.trim()));
    if (link) { mark(row); found.push('#' + link.textContent.trim()); }
  }
  for (const selector of marks) {
    for (const el of document.querySelectorAll(selector)) { mark(el); found.push(el.textContent.trim()); }
  }
  const filled = [...document.querySelectorAll('input[type=password]')].some((input) => input.value !== '');
  const height = Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);
  return {found, filled, height};
}"""


# The Support Center's "Open a New Ticket" form (include/client/open.inc.php, templates/dynamic-form.tmpl.php
# of osTicket 1.18): the help topic's option value by its name, and each field found by its label's first span
# (the label also wraps the field's hint and input; input names are hashed per session, the label's `for` is
# that name); the message has no label (ThreadEntryField::isBlockLevel) and is the form's draft textarea. The message may be a rich-text editor
# (Redactor) over its textarea: both get the text.
_TOPIC_VALUE = """(topic) => {
  const option = [...document.querySelectorAll('#topicId option')].find((o) => o.textContent.trim() === topic);
  return option ? option.value : '';
}"""
_FILL_FORM = """([values, message]) => {
  const missing = [], filled = [];
  const labels = [...document.querySelectorAll('#ticketForm label')];
  const text = (l) => (l.querySelector('span') || l).textContent.replace(/\\*/g, '').trim();
  const fill = (label, input, value) => {
    if (!input) { missing.push(label); return; }
    input.value = value;
    input.dispatchEvent(new Event('input', {bubbles: true}));
    const box = input.closest('.redactor-box') || (input.parentElement && input.parentElement.querySelector('.redactor-box'));
    const editable = box && box.querySelector('[contenteditable=true]');
    if (editable) { editable.textContent = value; }
    const row = input.closest('tr') || input;
    row.style.outline = '3px solid #e8590c'; row.style.outlineOffset = '1px'; row.style.background = '#fff3bf';
    filled.push(label);
  };
  for (const [label, value] of Object.entries(values)) {
    const found = labels.find((l) => text(l) === label);
    fill(label, found && document.getElementsByName(found.getAttribute('for'))[0], value);
  }
  // The message (a thread-entry field) is a block of its own, without a label: its textarea is the draft one.
  fill('the message', document.querySelector('#ticketForm textarea.draft'), message);
  return {missing, filled};
}"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def add_checks(w: WriteUp, verdict: Verdict) -> None:
    """Each ticket's checklist, as the verifier found it: what held, what did not, what was not checked."""
    for ticket in verdict.tickets:
        story = next((t for t in w.tickets if t.key == ticket.key), None)
        if story is not None:
            story.checks = ([Check("held", line) for line in ticket.held] +
                            [Check("failed", line) for line in ticket.mismatches] +
                            [Check("skipped", line) for line in ticket.skipped])


def add_mails(w: WriteUp, scenario: Scenario, mailbox: Mailbox) -> None:
    """The messages each ticket's ``expect.mail`` is about, placed after the step during which osTicket sent
    them: the first step done after the message arrived."""
    messages = mailbox.messages()
    assert mailbox.folder is not None
    for spec in scenario.tickets:
        story = next((t for t in w.tickets if t.key == spec.key), None)
        if story is None or not spec.expect.mail:
            continue
        about = select(messages, [story.number])
        seen: set[str] = set()
        for expect in spec.expect.mail:
            wanted = " ".join(part for part in (f"to {expect.to}",
                                                 f"subject containing {expect.subject_contains!r}"
                                                 if expect.subject_contains else "",
                                                 f"body containing {expect.body_contains!r}"
                                                 if expect.body_contains else "") if part)
            for message in matching(expect, about):
                if message.file in seen:
                    continue
                seen.add(message.file)
                shown = view(mailbox.folder / message.file)
                headers = [(name, value) for name, value in shown.headers if name in ("From", "To", "Subject", "Date")]
                story.mails.append(MailShown(_step_of(story, message), message.file, wanted, headers, shown.text))
        story.mails.sort(key=lambda m: (m.after, m.file))


def _step_of(story: TicketStory, message: MailMessage) -> int:
    received = message.received.isoformat(timespec="milliseconds")
    for i, shot in enumerate(story.shots):
        if shot.at and shot.at >= received:
            return i
    return len(story.shots) - 1


def find_chromium() -> str:
    """The Chromium to drive: ``$OSTOPS_CHROMIUM``, else the first of the usual names on PATH."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        path = shutil.which(named)
        if path is None:
            raise EvidenceUnavailable(f"--evidence: ${CHROMIUM_ENV}={named} is not an executable; {INSTALL_HINT}")
        return path
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise EvidenceUnavailable(f"--evidence needs a Chromium browser and none is installed: {INSTALL_HINT}")


def check_folder(folder: Path) -> Path:
    """Refuse, before anything is done, a folder the write-up could not be written to, or one holding other
    files than an earlier write-up (those are never overwritten)."""
    folder = folder.expanduser().absolute()
    if folder.exists():
        if not folder.is_dir():
            raise EvidenceUnavailable(f"--evidence {folder}: is a file; name a folder (new or empty)")
        others = [p.name for p in folder.iterdir()]
        if others and not (folder / MANIFEST).is_file():
            raise EvidenceUnavailable(f"--evidence {folder}: the folder holds other files ({', '.join(sorted(others)[:3])}"
                                      f"{', …' if len(others) > 3 else ''}); name a new or empty folder")
        _probe(folder, folder)
        return folder
    # A new folder is created in an existing one (as --junit's file is): a missing parent is more often a typo.
    parent = folder.parent
    if not parent.exists():
        raise EvidenceUnavailable(f"--evidence {folder}: the folder {parent} does not exist; create it first "
                                  f"(mkdir -p {parent}) or choose another path")
    if not parent.is_dir():
        raise EvidenceUnavailable(f"--evidence {folder}: {parent} is not a folder; choose another path")
    _probe(parent, folder)
    return folder


def _probe(where: Path, folder: Path) -> None:
    """Can a file be created in ``where``? (Asked of the file system: as root, permission bits say little.)"""
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise EvidenceUnavailable(f"--evidence {folder}: cannot write in {where} ({exc.strerror}); "
                                  "choose another folder") from exc


def check() -> str:
    """Everything ``--evidence`` needs on this machine, before a run: Playwright and a Chromium."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise EvidenceUnavailable("--evidence needs Playwright: pip install 'ostops[evidence]'") from exc
    return find_chromium()


class Evidence:
    """Watches a run (the runner calls it after the ticket is created and after each step) and takes the
    pictures; ``finish`` adds the closed-tickets queue and the final review and writes the write-up."""

    def __init__(self, folder: Path, base_url: str, password: Callable[[str], str | None], chromium: str,
                 scenario: Scenario, scenario_file: str) -> None:
        self.folder = folder
        self.base_url = base_url.rstrip("/") + "/"
        self._password = password
        self._secrets: set[str] = set()
        self.chromium = chromium
        self.writeup = WriteUp(scenario.name, scenario.description, scenario_file, run_id="")
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._agents: dict[str, Page] = {}
        self._requesters: dict[str, Page] = {}  # by ticket number: a status login opens one ticket
        self._count = 0
        self._cdp: dict[Page, CDPSession] = {}
        self._last_agent: str | None = None
        self._forms: dict[str, Shot] = {}  # by ticket key: the portal form, until the ticket has its number
        self._scenario = scenario
        self._at = ""  # when the step being pictured was done
        # `advance` is pictured in the staff panel (the overdue flag): by the first agent who acts in the scenario
        self._any_agent = next((step.actor for t in scenario.tickets for step in t.steps if step.actor != REQUESTER),
                               None)
        self.failure = ""  # the first picture that failed, and why

    # -- life cycle ----------------------------------------------------------------------------------------
    @classmethod
    def start(cls, folder: Path, base_url: str, password: Callable[[str], str | None], scenario: Scenario,
              scenario_file: str) -> Evidence:
        """Check the folder and the browser, start Chromium, and clear an earlier write-up's pictures.
        Every refusal is an ``EvidenceUnavailable`` (exit 2) raised before anything is written."""
        folder = check_folder(folder)
        evidence = cls(folder, base_url, password, check(), scenario, scenario_file)
        evidence._launch()
        try:
            evidence._clear_folder()
        except BaseException:
            evidence.close()
            raise
        return evidence

    def _launch(self) -> None:
        from playwright.sync_api import Error, sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.chromium, headless=True, timeout=TIMEOUT_MS,
                # Every host name but the help desk's resolves to nothing: the browser reaches no other server
                # (routing requests through Playwright instead would switch the browser's cache off).
                args=[f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {urlsplit(self.base_url).hostname}"])
        except Error as exc:
            self.close()
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise EvidenceUnavailable(f"--evidence: {self.chromium} does not start ({first_line}); "
                                      f"{INSTALL_HINT}") from exc

    def _clear_folder(self) -> None:
        shots = self.folder / SHOTS
        if shots.is_dir():
            for old in shots.glob("*.png"):
                old.unlink()
        shots.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a browser that already died must not hide the cause
            if self._browser is not None:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._playwright is not None:
                self._playwright.stop()
        self._browser = self._playwright = None
        self._agents.clear()
        self._requesters.clear()
        self._cdp.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- what the runner calls -----------------------------------------------------------------------------
    def run_started(self, run_id: str) -> None:
        self.writeup.run_id = run_id

    def ticket_creating(self, spec: TicketSpec, subject: str) -> None:
        """Before the ticket exists. Tickets opened through the API or by e-mail have no page to show here; a
        ticket a requester opens in the Support Center gets its filled-in form, before it is submitted (the
        runner submits it; this browser never does)."""
        if spec.channel != "portal":
            return
        self._at = _now()
        sentence = (f"{spec.key}: {spec.requester.name} fills in the Support Center's \"Open a New Ticket\" form "
                    "(before sending it)")
        self._guarded(sentence, lambda: self._form_shot(spec, subject, sentence))

    def _form_shot(self, spec: TicketSpec, subject: str, sentence: str) -> None:
        context = self._new_context()
        try:
            page = context.new_page()
            with self._capturing(sentence, "open.php"):
                self._open(page, "open.php")
                topic_id = page.evaluate(_TOPIC_VALUE, spec.topic)
                if not topic_id:
                    raise EvidenceError(f"--evidence: help topic {spec.topic!r} is not offered on open.php")
                path = f"open.php?topicId={topic_id}"
                self._open(page, path)
                values = {"Email Address": str(spec.requester.email), "Full Name": spec.requester.name,
                          "Issue Summary": subject}
                if spec.requester.phone:
                    values["Phone Number"] = spec.requester.phone
                answer = page.evaluate(_FILL_FORM, [values, spec.message])
                if answer["missing"]:
                    raise EvidenceError(f"--evidence: no field labelled {', '.join(answer['missing'])} on {path}")
                shot = self._take(page, f"{spec.requester.name}'s screen: \"Open a New Ticket\" in the Support "
                                        "Center, filled in, not yet sent", "/" + path, f"{spec.key}-{REQUESTER}-form",
                                  [], None)
            shot.sentence, shot.highlighted, shot.at = sentence, list(answer["filled"]), self._at
            self._forms[spec.key] = shot
        finally:
            context.close()

    def ticket_created(self, spec: TicketSpec, number: str, ticket_id: int, sentence: str) -> None:
        self._at = _now()
        self.writeup.tickets.append(TicketStory(spec.key, number, spec.subject, spec.requester.name))
        form = self._forms.pop(spec.key, None)
        if form is not None:
            self.writeup.story(spec.key).shots.append(form)
        self._guarded(sentence, lambda: self._requester_shot(spec, number, ticket_id, sentence, "create"))

    def step_done(self, spec: TicketSpec, step: Any, number: str, ticket_id: int, sentence: str) -> None:
        self._at = _now()
        if step.do == "advance" and self._any_agent is not None:
            self._guarded(sentence, lambda: self._staff_shot(spec, step, number, ticket_id, sentence,
                                                             self._any_agent or ""))
        elif step.actor == REQUESTER:
            self._guarded(sentence, lambda: self._requester_shot(spec, number, ticket_id, sentence, step.do))
        else:
            self._last_agent = step.actor
            self._guarded(sentence, lambda: self._staff_shot(spec, step, number, ticket_id, sentence))

    def _guarded(self, sentence: str, picture: Callable[[], None]) -> None:
        """The run is not the browser's: a picture that fails ends the pictures, not the run. The first
        failure is kept for the write-up and raised by ``finish``."""
        from playwright.sync_api import Error

        if self.failure:
            return
        try:
            picture()
        except (EvidenceError, Error) as exc:  # Error: the browser itself, outside any one page
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            self.failure = f"after \"{sentence}\": {reason.removeprefix('--evidence: ')}"

    def _staff_shot(self, spec: TicketSpec, step: Any, number: str, ticket_id: int, sentence: str,
                    agent: str = "") -> None:
        """The ticket in the staff panel, by the agent who acted (``agent``: by this one, for a step no agent
        took, such as ``advance``: then the overdue flag and the due date are outlined)."""
        agent = agent or step.actor
        page = self._agent_page(agent)
        path = f"scp/tickets.php?id={ticket_id}"
        advance = step.do == "advance"
        with self._capturing(sentence, path):
            self._open(page, path)
            viewer = (f"{agent}'s screen: ticket #{number} in the staff panel" +
                      (" after the clock moved on (the agent did nothing)" if advance else ""))
            shot = self._take(page, viewer, "/" + path, f"{spec.key}-{step.do}",
                              ["Due Date", "SLA Plan"] if advance else STAFF_ROWS.get(step.do, []),
                              STAFF_ENTRY.get(step.do), marks=[OVERDUE_FLAG] if advance else None)
        self._add(spec, shot, sentence)

    def _add(self, spec: TicketSpec, shot: Shot, sentence: str) -> None:
        shot.sentence, shot.at, shot.reaction = sentence, self._at, reaction_in(sentence)
        self.writeup.story(spec.key).shots.append(shot)

    # -- the end of the run --------------------------------------------------------------------------------
    def finish(self, *, report: Report | None, passed: bool | None, verification: list[str], error: str = "",
               seconds: float | None = None, fallback_agent: str | None = None, verdict: Verdict | None = None,
               mailbox: Mailbox | None = None) -> Path:
        """The closed-tickets queue and the final review (when the run got that far), each ticket's checklist
        (from ``verdict``) and the mail its expectations are about (from ``mailbox``), then the write-up and
        its PDF. Returns the folder."""
        w = self.writeup
        w.report, w.passed, w.verification, w.error, w.seconds = report, passed, verification, error, seconds
        if verdict is not None:
            add_checks(w, verdict)
        if mailbox is not None and mailbox.folder is not None:
            add_mails(w, self._scenario, mailbox)
        agent = self._last_agent or fallback_agent
        if not error and agent is not None and w.tickets:
            numbers = [t.number for t in w.tickets]
            # the queue the run's tickets ended in: Open when any is still open (sla-breach), else Closed
            queue = "Open" if report is not None and report.open_count else "Closed"
            self._guarded("the last step", lambda: self._queue(agent, queue, numbers))
        if report is not None:
            self._guarded("the queue", lambda: self._review(report))
        w.evidence_error = self.failure
        pdf = self.folder / PDF
        pdf.unlink(missing_ok=True)
        w.pdf = self._browser is not None
        try:
            written = writeup.write(w, self.folder)
            if w.pdf:
                self._guarded("the write-up", lambda: self._print_pdf(pdf))
                if not pdf.is_file():  # the manifest and pages must not link a file that is not there
                    w.pdf = False
                    written = writeup.write(w, self.folder)
                else:
                    written.append(pdf)
        except OSError as exc:
            raise EvidenceError(f"--evidence {self.folder}: cannot write the write-up: {exc.strerror}") from exc
        self._check_no_secret(written + [self.folder / s.file for s in w.shots()])
        if self.failure:
            raise EvidenceError(f"--evidence: no more pictures {self.failure}; the write-up in {self.folder} "
                                "stops there")
        return self.folder

    def _print_pdf(self, pdf: Path) -> None:
        """index.html as Chromium prints it (Playwright's page.pdf, A4, backgrounds kept: the outlines)."""
        context = self._new_context()
        try:
            page = context.new_page()
            index = (self.folder / "index.html").as_uri()
            with self._capturing("printing the write-up", index):
                page.goto(index, wait_until="load")
                page.emulate_media(media="print")
                page.pdf(path=str(pdf), format="A4", print_background=True,
                         margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
        finally:
            context.close()

    def _queue(self, agent: str, name: str, numbers: list[str]) -> None:
        page = self._agent_page(agent)
        sentence = f"{agent} opens the {name} queue"
        with self._capturing(sentence, "scp/tickets.php"):
            self._open(page, "scp/tickets.php")
            queue = page.locator("li.top-queue > a").filter(has_text=re.compile(rf"^\s*{name}\s*$")).first
            href = str(queue.evaluate("a => a.href"))
            if not href.startswith(self.base_url):
                raise EvidenceError(f"--evidence: the staff panel's {name} queue links outside the help desk: {href}")
            path = href[len(self.base_url):]
            self._open(page, path)
            shot = self._take(page, f"{agent}'s screen: the {name} queue in the staff panel", "/" + path,
                              f"{name.lower()}-queue", [], None, numbers)
        shot.sentence = sentence
        self.writeup.closing.append(shot)

    def _review(self, report: Report) -> None:
        assert self._browser is not None
        context = self._new_context()
        try:
            page = context.new_page()
            sentence = f"Final review of run {report.run_id}"
            with self._capturing(sentence, "the final review"):
                page.set_content(render_html(report), wait_until="load")
                shot = self._take(page, "the final review (ostops report --format html) in the browser",
                                  "ostops report", "final-review", [], None)
            shot.sentence = sentence
            self.writeup.closing.append(shot)
        finally:
            context.close()

    # -- browser sessions ----------------------------------------------------------------------------------
    def _new_context(self) -> BrowserContext:
        assert self._browser is not None, "Evidence.start() first"
        context = self._browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1,
                                            locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        return context

    def _agent_page(self, username: str) -> Page:
        if username in self._agents:
            return self._agents[username]
        password = self._password(username)
        if password is None:
            raise EvidenceError(f"--evidence: no password for agent {username!r}")
        self._secrets.add(password)
        page = self._new_context().new_page()
        url = self.base_url + "scp/login.php"
        with self._capturing(f"logging in as {username}", "scp/login.php"):
            page.goto(url, wait_until="load")
            page.fill("input[name=userid]", username)
            page.fill("input[name=passwd]", password)
            with page.expect_navigation(wait_until="commit"):  # the queue it lands on is not pictured
                page.click("button[type=submit], input[type=submit]")
            if "login.php" in page.url:
                message = page.locator("#login-message").first
                reason = message.inner_text().strip() if message.count() else "the login page came back"
                page.fill("input[name=passwd]", "")
                raise EvidenceError(f"--evidence: agent {username!r} could not log in at {url} in the browser: "
                                    f"{reason}")
        self._agents[username] = page
        return page

    def _requester_page(self, spec: TicketSpec, number: str) -> tuple[Page, bool, str]:
        """The requester's browser on this ticket, signed in through "Check Ticket Status" (and whether it
        has just landed on her ticket); the note says why her ticket is not shown when osTicket mails an
        access link instead."""
        if number in self._requesters:
            return self._requesters[number], False, ""
        page = self._new_context().new_page()
        with self._capturing(f"{spec.requester.name} checking ticket #{number}", "view.php"):
            page.goto(self.base_url + "view.php", wait_until="load")
            page.fill("input[name=lemail]", str(spec.requester.email))
            page.fill("input[name=lticket]", number)
            with page.expect_navigation(wait_until="load"):
                page.click("#clientLogin input[type=submit], #clientLogin button[type=submit]")
        self._requesters[number] = page
        if "login.php" in page.url or "view.php" in page.url:
            return page, False, ("osTicket mails an access link instead of opening the ticket: its \"Check "
                                 "Ticket Status\" requires e-mail verification (the seed's settings."
                                 "status_check_email_verification: false turns that off)")
        return page, True, ""

    def _requester_shot(self, spec: TicketSpec, number: str, ticket_id: int, sentence: str, action: str) -> None:
        page, landed, note = self._requester_page(spec, number)
        path = f"tickets.php?id={ticket_id}"
        labels, entry = ([], "message") if action == "reply" else (["Ticket Status"], None)
        with self._capturing(sentence, path):
            if note:
                path = "login.php"
            elif not (landed and f"#{number}" in page.inner_text("body")):  # after signing in she sees it
                self._open(page, path)
            shot = self._take(page, f"{spec.requester.name}'s screen: ticket #{number} in the Support Center "
                                    "(Check Ticket Status, e-mail and ticket number)", "/" + path,
                              f"{spec.key}-{REQUESTER}-{action}", labels, entry)
        shot.note = note
        self._add(spec, shot, sentence)

    # -- pictures ------------------------------------------------------------------------------------------
    def _open(self, page: Page, path: str) -> None:
        response = page.goto(self.base_url + path, wait_until="load")
        if response is not None and response.status >= 400:
            raise EvidenceError(f"osTicket answered HTTP {response.status} for {path}")
        if "login.php" in page.url and "login.php" not in path:
            raise EvidenceError(f"the browser's session ended: {path} sent it to the login page")

    def _take(self, page: Page, viewer: str, path: str, name: str, labels: list[str], entry: str | None,
              numbers: list[str] | None = None, marks: list[str] | None = None) -> Shot:
        prepared = page.evaluate(_PREPARE, [labels, entry, numbers or [], marks or []])
        if prepared["filled"]:
            raise EvidenceError(f"a password field on {path} could not be emptied: no picture taken")
        self._count += 1
        file = f"{SHOTS}/{self._count:02d}-{name}.png"
        (self.folder / file).write_bytes(self._png(page, int(prepared["height"])))
        return Shot(file, "", viewer, path, list(prepared["found"]))

    def _png(self, page: Page, height: int) -> bytes:
        """The whole page, WIDTH pixels wide, as PNG. Chrome DevTools Protocol's Page.captureScreenshot with
        optimizeForSpeed ("optimize image encoding for speed, not for resulting size"): about a third of the
        time of Playwright's full-page screenshot here, for files about a quarter larger.
        (https://chromedevtools.github.io/devtools-protocol/tot/Page/#method-captureScreenshot; the same
        parameters in https://docs.rs/cdp-protocol/0.3.1/cdp_protocol/page/struct.CaptureScreenshot.html)"""
        if page not in self._cdp:
            self._cdp[page] = page.context.new_cdp_session(page)
        answer = self._cdp[page].send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": max(height, HEIGHT), "scale": 1}})
        return base64.b64decode(answer["data"])

    @contextlib.contextmanager
    def _capturing(self, what: str, path: str) -> Iterator[None]:
        from playwright.sync_api import Error

        try:
            yield
        except Error as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise EvidenceError(f"--evidence: {what}: the browser failed on {self.base_url}{path}: "
                                f"{first_line}") from exc

    def _check_no_secret(self, files: list[Path]) -> None:
        """The passwords the browser typed appear in no file of the write-up (a last guard)."""
        secrets = [s.encode() for s in self._secrets if s]
        for path in files:
            data = path.read_bytes()
            if any(secret in data for secret in secrets):
                raise EvidenceError(f"--evidence: {path} contains a password; remove the folder {self.folder}")
