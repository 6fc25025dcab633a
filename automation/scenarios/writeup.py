"""The write-up of a run's evidence: README.md and index.html beside the screenshots, relative links only.

Pure rendering (no browser, no osTicket): ``automation.scenarios.evidence`` collects the shots and calls
``write``. Every value from the scenario or from osTicket is escaped: HTML by Jinja2's autoescape, Markdown by
the ``md`` filter."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from automation.scenarios.report import Report, human_duration
from automation.scenarios.review_html import review_sections

MANIFEST = "evidence.json"  # also marks a folder as an earlier write-up that may be replaced
SHOTS = "shots"
PDF = "evidence.pdf"  # index.html as Chromium prints it
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|]|^#|(?<!\w)_|_(?!\w))")


@dataclass
class Shot:
    file: str  # relative to the write-up's folder, always under shots/
    sentence: str  # who did what, as the console printed it
    viewer: str  # whose screen this is, and which page
    page: str  # the page's path on the help desk, without the host
    highlighted: list[str] = field(default_factory=list)
    note: str = ""
    at: str = ""  # when the step was done (UTC, ISO 8601): the mail osTicket sent during it comes after it
    reaction: str = ""  # what osTicket did on its own after the step (a reply reopening a resolved ticket)


@dataclass
class MailShown:
    """A message osTicket sent that an ``expect.mail`` of the ticket is about, as it was caught."""

    after: int  # the index of the shot (in the ticket's story) of the step during which it was sent
    file: str  # the .eml file's name in the instance's mail folder
    expectation: str
    headers: list[tuple[str, str]]  # From, To, Subject, Date
    text: str

    @property
    def recipient(self) -> str:
        return next((value for name, value in self.headers if name == "To"), "?")


@dataclass
class Check:
    state: str  # held | failed | skipped
    text: str

    @property
    def mark(self) -> str:
        return {"held": "✓", "failed": "✗", "skipped": "-"}[self.state]


@dataclass
class TicketStory:
    key: str
    number: str
    subject: str
    requester: str
    shots: list[Shot] = field(default_factory=list)
    mails: list[MailShown] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)  # from the verdict: what held, what did not

    def mails_after(self, index: int) -> list[MailShown]:
        return [m for m in self.mails if m.after == index]


@dataclass
class WriteUp:
    scenario_name: str
    description: str
    scenario_file: str
    run_id: str
    tickets: list[TicketStory] = field(default_factory=list)
    closing: list[Shot] = field(default_factory=list)  # the closed-tickets queue, the final review
    passed: bool | None = None
    verification: list[str] = field(default_factory=list)  # expectations not met
    error: str = ""  # why the run stopped early, when it did
    evidence_error: str = ""  # why the pictures stopped early, when they did (the run went on)
    seconds: float | None = None
    report: Report | None = None
    pdf: bool = False  # the same write-up printed to PDF beside it
    generated: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))

    def story(self, key: str) -> TicketStory:
        return next(t for t in self.tickets if t.key == key)

    def shots(self) -> list[Shot]:
        return [shot for story in self.tickets for shot in story.shots] + self.closing

    def manifest(self) -> dict[str, Any]:
        return {"ostops_evidence": 1, "scenario": self.scenario_name, "scenario_file": self.scenario_file,
                "run_id": self.run_id, "passed": self.passed, "error": self.error or None,
                "evidence_error": self.evidence_error or None,
                "generated": self.generated,
                "pdf": PDF if self.pdf else None,
                "tickets": [{"key": t.key, "number": t.number, "subject": t.subject, "requester": t.requester,
                             "shots": [asdict(s) for s in t.shots],
                             "mails": [{**asdict(m), "headers": dict(m.headers)} for m in t.mails],
                             "checks": [asdict(c) for c in t.checks]} for t in self.tickets],
                "closing": [asdict(s) for s in self.closing]}


def md(value: object) -> str:
    """Text safe to place in Markdown (also in a table cell): the characters Markdown or HTML would read."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html.j2"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md
    env.filters["duration"] = human_duration
    return env


def render(writeup: WriteUp) -> dict[str, str]:
    """File name → text, for README.md, index.html and the manifest."""
    env = _environment()
    # review_sections escapes every value itself (autoescape)
    # the write-up's links stay relative, so its ticket numbers do not link to the staff panel
    review_html = Markup(review_sections(writeup.report, 3, link_tickets=False)) if writeup.report else None
    values = {"w": writeup, "review_html": review_html}
    return {"README.md": env.get_template("writeup.md.j2").render(values),
            "index.html": env.get_template("writeup.html.j2").render(values),
            MANIFEST: json.dumps(writeup.manifest(), indent=2) + "\n"}


def write(writeup: WriteUp, folder: Path) -> list[Path]:
    written = []
    for name, text in render(writeup).items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
