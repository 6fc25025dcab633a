"""Issue 16 acceptance: ``ostops run --evidence DIR`` pictures the reference lab in a real Chromium and writes
it up; bad input is refused before the run starts."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from automation.errors import EvidenceUnavailable
from automation.scenarios import evidence
from automation.scenarios.loader import load_scenario
from automation.workspace import Workspace
from tests.helpers.osticket import OSTOPS, REPO, query

pytestmark = pytest.mark.e2e

LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def _chromium_missing() -> str | None:
    try:
        evidence.check()
    except EvidenceUnavailable as exc:
        return str(exc)
    return None


def run(osticket: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OSTOPS, *args, "--instance", str(osticket.instance_path)], capture_output=True,
                          text=True, timeout=300, cwd=REPO, check=False, env={**os.environ, **(env or {})})


def ticket_count(osticket: Any) -> int:
    return int(query(osticket, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"])


def instance_secrets(osticket: Any) -> dict[str, str]:
    inst = osticket.instance
    found = {"admin password": inst.admin.password.get_secret_value(), "API key": inst.api_key.get_secret_value(),
             "database password": inst.db.password.get_secret_value()}
    if inst.local is not None:
        found["database root password"] = inst.local.db_root_password.get_secret_value()
    credentials = json.loads(Workspace.at(osticket.instance_path).credentials_file.read_text())
    found |= {f"{agent}'s password": password for agent, password in credentials["agents"].items()}
    return found


@dataclass
class LabEvidence:
    folder: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def lab_evidence(osticket: Any, tmp_path_factory: pytest.TempPathFactory) -> LabEvidence:
    reason = _chromium_missing()
    if reason:
        pytest.skip(f"no Chromium for --evidence: {reason}")
    folder = tmp_path_factory.mktemp("evidence") / "lab"  # a new folder in an existing one
    result = run(osticket, "run", str(LAB), "--seed", "--evidence", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    return LabEvidence(folder, result.stdout, result.stderr)


FORM_VIEWER = "\"Open a New Ticket\" in the Support Center, filled in, not yet sent"


def test_a_picture_of_every_step_in_the_order_the_console_printed_them(lab_evidence: LabEvidence) -> None:
    scenario = load_scenario(LAB).scenario
    manifest = json.loads((lab_evidence.folder / "evidence.json").read_text())
    assert [t["key"] for t in manifest["tickets"]] == [t.key for t in scenario.tickets]
    keys = tuple(f"· {t.key}: " for t in scenario.tickets)
    printed = [line.removeprefix("· ") for line in lab_evidence.stderr.splitlines() if line.startswith(keys)]
    assert len(printed) == sum(1 + len(t.steps) for t in scenario.tickets)
    shots = [shot for t in manifest["tickets"] for shot in t["shots"]]
    sentences = [shot["sentence"] for shot in shots if FORM_VIEWER not in shot["viewer"]]
    assert sentences == printed  # one per creation and per step, as the console said it
    for ticket, spec in zip(manifest["tickets"], scenario.tickets, strict=True):
        portal = spec.channel == "portal"  # a portal ticket's story opens with the form she filled in
        assert len(ticket["shots"]) == portal + 1 + len(spec.steps), ticket["key"]
        forms = [s for s in ticket["shots"] if FORM_VIEWER in s["viewer"]]
        assert forms == ticket["shots"][:1] if portal else not forms, ticket["key"]
        created = ticket["shots"][portal]
        staff = [s for s, step in zip(ticket["shots"][portal + 1:], spec.steps, strict=True)
                 if step.actor != "requester"]
        assert all("staff panel" in s["viewer"] for s in staff)
        assert "Support Center" in created["viewer"] and FORM_VIEWER not in created["viewer"]
        assert not created["note"], created["note"]  # she saw her ticket, not a mail notice
    sla_shot = manifest["tickets"][0]["shots"][1 + (scenario.tickets[0].channel == "portal")]
    assert "change_sla to Sev-A" in sla_shot["sentence"] and "SLA Plan" in sla_shot["highlighted"]
    closing = [s["file"] for s in manifest["closing"]]
    assert [Path(f).stem.split("-", 1)[1] for f in closing] == ["closed-queue", "final-review"]
    numbers = {f"#{t['number']}" for t in manifest["tickets"]}
    assert numbers <= set(manifest["closing"][0]["highlighted"])  # every ticket of the run is in the queue
    pictures = sorted((lab_evidence.folder / "shots").glob("*.png"))
    portal_tickets = sum(t.channel == "portal" for t in scenario.tickets)
    assert portal_tickets and len(pictures) == portal_tickets + len(printed) + 2
    assert f"{len(pictures)} picture(s)" in lab_evidence.stderr


def test_a_portal_ticket_is_pictured_in_its_filled_in_form_before_it_is_sent(lab_evidence: LabEvidence) -> None:
    scenario = load_scenario(LAB).scenario
    manifest = json.loads((lab_evidence.folder / "evidence.json").read_text())
    for ticket, spec in zip(manifest["tickets"], scenario.tickets, strict=True):
        if spec.channel != "portal":
            continue
        form = ticket["shots"][0]
        assert form["page"].startswith("/open.php?topicId="), form
        assert form["sentence"] == (f"{spec.key}: {spec.requester.name} fills in the Support Center's \"Open a New "
                                    "Ticket\" form (before sending it)")
        assert form["highlighted"] == ["Email Address", "Full Name", "Issue Summary", "the message"]
        assert Path(form["file"]).stem.endswith(f"{spec.key}-requester-form")
        # taken before the ticket existed: the picture of the ticket she then opened comes right after
        assert form["file"] < ticket["shots"][1]["file"]


def test_every_picture_is_a_full_width_png_that_is_not_blank(lab_evidence: LabEvidence) -> None:
    pictures = sorted((lab_evidence.folder / "shots").glob("*.png"))
    assert pictures
    for picture in pictures:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture.name
        with Image.open(picture) as image:
            image.verify()
        with Image.open(picture) as image:
            assert image.format == "PNG" and image.width >= evidence.WIDTH, (picture.name, image.size)
            assert image.height >= evidence.HEIGHT, (picture.name, image.size)
            spread = ImageStat.Stat(image.convert("L")).stddev[0]
            assert spread > 10, f"{picture.name} looks blank (grey-level standard deviation {spread:.1f})"


def test_the_write_up_references_every_picture_with_relative_links(lab_evidence: LabEvidence) -> None:
    folder = lab_evidence.folder
    pictures = [p.relative_to(folder).as_posix() for p in sorted((folder / "shots").glob("*.png"))]
    readme, html = (folder / "README.md").read_text(), (folder / "index.html").read_text()
    for picture in pictures:
        assert f"]({picture})" in readme, picture
        assert f'src="{picture}"' in html, picture
    links = re.findall(r'(?:src|href)="([^"#]*)"', html) + re.findall(r"\]\(([^)]+)\)", readme)
    assert links and all(not re.match(r"^(/|[a-z]+:)", link) for link in links), links
    assert all((folder / link).is_file() for link in links), links
    scenario = load_scenario(LAB).scenario
    assert readme.startswith(f"# {scenario.name}\n") and f"<h1>{scenario.name}</h1>" in html
    # each step's sentence right above its picture, the final review (table, then charts) at the end
    form = scenario.tickets[0].channel == "portal"  # the first story opens with the portal form
    first = readme.index(f"### {2 + form}. online-banking-down: john.doe change_sla to Sev-A")
    assert first < readme.index(f"]({pictures[1 + form]})") < readme.index(f"### {3 + form}. ")
    assert readme.index("\n## Final review\n") > readme.index(f"]({pictures[-1]})")
    assert "| online-banking-down | #" in readme and '<svg role="img"' in html
    assert "Every expectation of the scenario holds" in readme


def test_no_secret_of_the_instance_in_any_file(osticket: Any, lab_evidence: LabEvidence) -> None:
    secrets = instance_secrets(osticket)
    assert all(len(value) >= 8 for value in secrets.values()), "the test needs real secrets to look for"
    files = [p for p in lab_evidence.folder.rglob("*") if p.is_file()]
    assert len(files) >= 30
    for path in files:
        data = path.read_bytes()
        for name, value in secrets.items():
            assert value.encode() not in data, f"{path.name} holds the {name}"
    for name, value in secrets.items():
        assert value not in lab_evidence.stdout + lab_evidence.stderr, name


def test_a_folder_that_cannot_be_written_is_refused_before_the_run(osticket: Any) -> None:
    before = ticket_count(osticket)
    # /proc takes no new file, even from root (permission bits would not stop root)
    result = run(osticket, "run", str(LAB), "--evidence", "/proc/ostops-evidence")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--evidence /proc/ostops-evidence: cannot write in /proc" in result.stderr
    assert "run " not in result.stderr and ticket_count(osticket) == before


def test_a_missing_browser_is_refused_before_the_run(osticket: Any, tmp_path: Path) -> None:
    before = ticket_count(osticket)
    missing = tmp_path / "no-such-chromium"
    result = run(osticket, "run", str(LAB), "--seed", "--evidence", str(tmp_path / "out"),
                 env={evidence.CHROMIUM_ENV: str(missing)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"$OSTOPS_CHROMIUM={missing} is not an executable; install Debian's chromium" in result.stderr
    assert "seeded" not in result.stderr and ticket_count(osticket) == before
    assert not (tmp_path / "out").exists()


def test_a_browser_that_does_not_start_is_refused_before_the_run(osticket: Any, tmp_path: Path) -> None:
    before = ticket_count(osticket)
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    result = run(osticket, "run", str(LAB), "--evidence", str(tmp_path / "out"),
                 env={evidence.CHROMIUM_ENV: str(broken)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--evidence: {broken} does not start" in result.stderr
    assert ticket_count(osticket) == before and not (tmp_path / "out").exists()


def test_the_write_up_shows_karens_mail_a_checklist_per_ticket_and_a_pdf(lab_evidence: LabEvidence) -> None:
    folder = lab_evidence.folder
    pdf = folder / "evidence.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 50_000
    assert str(pdf) in lab_evidence.stderr
    manifest = json.loads((folder / "evidence.json").read_text())
    assert manifest["pdf"] == "evidence.pdf"
    page = html.unescape((folder / "index.html").read_text())
    readme = (folder / "README.md").read_text()
    banking = manifest["tickets"][0]
    # the auto-response after her ticket was opened, the notice of Jane's reply after that reply
    mails = banking["mails"]
    assert [m["headers"]["To"].rsplit("<", 1)[-1].rstrip(">") for m in mails] == ["karen.doe@example.com"] * 2
    opened, notice = mails
    sentences = [s["sentence"] for s in banking["shots"]]
    assert "Support Ticket Opened" in opened["headers"]["Subject"]
    assert sentences[opened["after"]].startswith("online-banking-down: Karen Doe create")
    assert "jane.doe reply" in sentences[notice["after"]]
    assert "Online banking is restored" in notice["text"]
    for mail in mails:
        assert mail["headers"]["Subject"] in page and mail["headers"]["From"] in page
        assert mail["text"].splitlines()[0] in page
    assert page.index(opened["headers"]["Subject"]) < page.index(notice["headers"]["Subject"])
    # one checklist per ticket, from the verdict: every expectation held
    for ticket in manifest["tickets"]:
        checks = ticket["checks"]
        assert checks and all(c["state"] == "held" for c in checks), (ticket["key"], checks)
        assert f"Checklist: ticket #{ticket['number']}" in page
    texts = [c["text"] for c in banking["checks"]]
    for item in ("status: Closed", "sla: Sev-A", "priority: Emergency", "team: Online Banking",
                 "mail to karen.doe@example.com subject containing 'Support Ticket Opened': 1 message(s)"):
        assert item in texts, (item, texts)
        assert item in page
    assert "- ✓ priority: Emergency" in readme
    # her reply to the resolved ticket reopened it: the console and the write-up say so
    reopened = [s for s in banking["shots"] if s["reaction"]]
    assert len(reopened) == 1 and "requester reply" in reopened[0]["sentence"]
    assert "osTicket reopened the ticket (Resolved -> Open" in reopened[0]["reaction"]
    assert reopened[0]["reaction"] in lab_evidence.stderr and reopened[0]["reaction"] in page


def test_the_advance_step_shows_the_staff_view_with_the_overdue_flag(osticket: Any,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    reason = _chromium_missing()
    if reason:
        pytest.skip(f"no Chromium for --evidence: {reason}")
    folder = tmp_path_factory.mktemp("evidence") / "breach"
    result = run(osticket, "run", str(REPO / "seed" / "scenarios" / "sla-breach.yaml"), "--seed",
                 "--evidence", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((folder / "evidence.json").read_text())
    (advance,) = [s for s in manifest["tickets"][0]["shots"] if "advance" in s["sentence"]]
    assert advance["page"].startswith("/scp/tickets.php?id="), advance
    assert "staff panel" in advance["viewer"] and "jane.doe" in advance["viewer"]
    # the element osTicket's staff ticket view renders for an overdue ticket, outlined in the picture
    assert "Marked overdue!" in advance["highlighted"], advance["highlighted"]
    # the ticket stays open: the closing picture is the Open queue, with the run's ticket outlined in it
    assert [Path(s["file"]).stem.split("-", 1)[1] for s in manifest["closing"]] == ["open-queue", "final-review"]
    assert f"#{manifest['tickets'][0]['number']}" in manifest["closing"][0]["highlighted"]
    assert (folder / "evidence.pdf").read_bytes()[:5] == b"%PDF-"
