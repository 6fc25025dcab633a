"""The evidence's checks before a run and its write-up (no browser, no osTicket)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from automation.errors import EvidenceUnavailable
from automation.scenarios import evidence
from automation.scenarios.report import GroupRow, Report, TicketRow
from automation.scenarios.writeup import MANIFEST, Shot, TicketStory, WriteUp, md, render, write


def sample_writeup() -> WriteUp:
    w = WriteUp("Lab <b>bold</b>", "Karen's *outage* & more", "seed/scenarios/lab.yaml", "20261201120000-abcd")
    story = TicketStory("online-banking-down", "123456", "Banking <script>alert(1)</script> down", "Karen Doe")
    story.shots = [
        Shot("shots/01-online-banking-down-requester-create.png",
             "online-banking-down: Karen Doe create #123456 Banking down (0.05 s)",
             "Karen Doe's screen: ticket #123456 in the Support Center", "/tickets.php?id=1", ["Ticket Status"]),
        Shot("shots/02-online-banking-down-change_sla.png", "online-banking-down: john.doe change_sla to Sev-A (0.08 s)",
             "john.doe's screen: ticket #123456 in the staff panel", "/scp/tickets.php?id=1", ["SLA Plan"]),
    ]
    w.tickets.append(story)
    w.closing = [Shot("shots/03-closed-queue.png", "john.doe opens the Closed queue", "john.doe's screen",
                      "/scp/tickets.php?queue=8", ["#123456"]),
                 Shot("shots/04-final-review.png", "Final review", "the final review", "ostops report")]
    w.passed, w.seconds = True, 12.3
    w.report = Report("20261201120000-abcd", "2026-12-01 12:00:00",
                      [TicketRow("online-banking-down", "123456", "Banking down", "Closed", "Sev-A", "jane.doe",
                                 "Online | Banking", None, "met", 10.0, 20.0)],
                      {"Closed": 1}, [GroupRow("jane.doe", 1, 1, 1, 0, [10.0], [20.0])],
                      [GroupRow("Online Banking", 1, 1, 1, 0, [10.0], [20.0])])
    return w


def test_write_up_references_every_picture_with_relative_links(tmp_path: Path) -> None:
    w = sample_writeup()
    files = render(w)
    assert set(files) == {"README.md", "index.html", MANIFEST}
    for name in ("README.md", "index.html"):
        text = files[name]
        for shot in w.shots():
            assert shot.file in text, (name, shot.file)
            assert text.index(shot.sentence.split(":")[0]) >= 0
        links = re.findall(r'(?:src|href)="([^"#]+)"|\]\(([^)]+)\)', text)
        targets = [a or b for a, b in links]
        assert targets and all(not re.match(r"^(/|[a-z]+:)", t) for t in targets), targets
    html = files["index.html"]
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Lab &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<svg role="img"' in html  # the final review's charts
    readme = files["README.md"]
    assert "\\<script\\>" in readme and "<script>" not in readme
    assert "Online \\| Banking" in readme  # a cell that cannot break the table
    # each step's sentence comes right before its picture, in step order
    positions = [readme.index(f"({shot.file})") for shot in w.shots()]
    assert positions == sorted(positions)
    sla = readme.index("john.doe change_sla")  # within a word, _ is no emphasis: left as it is
    assert positions[0] < sla < positions[1]
    manifest = json.loads(files[MANIFEST])
    assert [s["file"] for s in manifest["tickets"][0]["shots"]] == [s.file for s in w.tickets[0].shots]

    written = write(w, tmp_path)
    assert sorted(p.name for p in written) == sorted(files)


def test_a_failed_run_says_where_it_stopped() -> None:
    w = sample_writeup()
    w.report, w.closing, w.passed, w.error = None, [], None, "lab.yaml:20 ticket x, step 2 failed: HTTP 403"
    files = render(w)
    assert "stopped early" in files["README.md"] and "HTTP 403" in files["index.html"]
    assert "Final review" not in files["README.md"]


def test_markdown_escaping() -> None:
    assert md("change_sla to #12") == "change_sla to #12"
    assert md("# not a heading") == "\\# not a heading"
    assert md("<b>[x]</b> *y* _z_ a|b") == "\\<b\\>\\[x\\]\\</b\\> \\*y\\* \\_z\\_ a\\|b"
    assert md("two\nlines") == "two lines"


def test_folder_checks(tmp_path: Path) -> None:
    assert evidence.check_folder(tmp_path / "new") == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # nothing created by the check
    with pytest.raises(EvidenceUnavailable, match=r"the folder .*/new does not exist; create it first"):
        evidence.check_folder(tmp_path / "new" / "deeper")
    assert evidence.check_folder(tmp_path) == tmp_path  # empty

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EvidenceUnavailable, match=r"holds other files \(notes.txt\); name a new or empty folder"):
        evidence.check_folder(tmp_path)
    with pytest.raises(EvidenceUnavailable, match="is a file"):
        evidence.check_folder(tmp_path / "notes.txt")
    with pytest.raises(EvidenceUnavailable, match="is not a folder"):
        evidence.check_folder(tmp_path / "notes.txt" / "sub")

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / MANIFEST).write_text("{}")
    (earlier / "README.md").write_text("old")
    assert evidence.check_folder(earlier) == earlier  # an earlier write-up is replaced


def test_a_folder_that_cannot_be_written_is_refused() -> None:
    # /proc accepts no new files, even for root (permission bits would not stop root)
    with pytest.raises(EvidenceUnavailable, match=r"--evidence /proc/ostops-evidence: cannot write in /proc"):
        evidence.check_folder(Path("/proc/ostops-evidence"))


def test_chromium_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OSTOPS_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(EvidenceUnavailable, match=r"is not an executable; install Debian's chromium"):
        evidence.find_chromium()
    monkeypatch.delenv("OSTOPS_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EvidenceUnavailable, match="needs a Chromium browser and none is installed"):
        evidence.find_chromium()
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert evidence.find_chromium() == str(fake)


def test_a_failed_picture_ends_the_pictures_not_the_run_and_finish_says_so(tmp_path: Path) -> None:
    from automation.errors import EvidenceError
    from automation.scenarios.loader import load_scenario

    lab = load_scenario(Path(__file__).resolve().parents[2] / "seed" / "scenarios" / "lab.yaml").scenario
    ev = evidence.Evidence(tmp_path, "http://127.0.0.1:9/", lambda _: None, "/usr/bin/chromium", lab, "lab.yaml")
    calls: list[str] = []

    def fails() -> None:
        calls.append("first")
        raise EvidenceError("--evidence: the browser failed on http://127.0.0.1:9/scp/tickets.php?id=1: boom")

    ev._guarded("online-banking-down: john.doe change_sla to Sev-A (0.06 s)", fails)
    ev._guarded("the next step", lambda: calls.append("second"))  # no more pictures once one failed
    assert calls == ["first"]
    assert ev.failure == ('after "online-banking-down: john.doe change_sla to Sev-A (0.06 s)": the browser failed '
                          "on http://127.0.0.1:9/scp/tickets.php?id=1: boom")
    with pytest.raises(EvidenceError, match=r"no more pictures after .*boom; the write-up in .* stops there"):
        ev.finish(report=None, passed=None, verification=[], error="")
    readme = (tmp_path / "README.md").read_text()  # the write-up is still written, and says why it is short
    assert "**The pictures stopped early** (the run went on): after" in readme
    assert json.loads((tmp_path / MANIFEST).read_text())["evidence_error"] == ev.failure
