"""Collaborators, attachments and entry expectations: every bad field is one problem with file:line, exit 2;
and the verdict names system notes apart from agents' notes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from automation.scenarios.facts import Entry, TicketFacts
from automation.scenarios.loader import load_scenario
from automation.scenarios.models import EntryExpect
from automation.scenarios.participants import Attached, Collaborator
from automation.scenarios.verify import check_attachments, check_collaborators, check_entries
from tests.helpers.scenario_input import assert_named_at, run_refused

HEAD = "name: t\ntickets:\n  - key: a\n    requester: {name: K, email: k@example.com}\n    subject: S\n    message: M\n"

# name → (ticket lines after HEAD, the problem's line, words the problem must contain)
BAD: dict[str, tuple[str, int, str]] = {
    "cc_not_an_email": ("    channel: email\n    cc: [nobody]\n", 8, "tickets[0].cc[0]"),
    "cc_through_api": ("    cc: [x@example.com]\n", 7, "take no CC"),
    "cc_is_the_requester": ("    channel: email\n    cc: [K@example.com]\n", 8, "cannot be her own collaborator"),
    "collaborator_without_email": ("    steps:\n      - {as: john.doe, do: add_collaborator}\n", 8, "email"),
    "collaborator_by_requester": ("    steps:\n      - {as: requester, do: add_collaborator, email: x@example.com}\n",
                                  8, "'add_collaborator' is an agent's action"),
    "attachment_missing": ("    attachments: [nope.txt]\n", 7, "attachment 'nope.txt': no such file"),
    "attachment_not_a_list": ("    attachments: nope.txt\n", 7, "tickets[0].attachments"),
    "attachment_empty": ("    attachments: [empty.txt]\n", 7, "the file is empty"),
    "attachment_fake_image": ("    attachments: [fake.jpg]\n", 7, "named as image/jpeg but it is not such an image"),
    "attachment_too_big": ("    attachments: [big.bin]\n", 7, "more than osTicket's default maximum file size"),
    "attachment_in_portal_form_missing": ("    channel: portal\n    topic: T\n    attachments: [nope.txt]\n", 9,
                                          "attachment 'nope.txt': no such file"),
    "expect_attachments_negative": ("    expect: {attachments: {count: -1}}\n", 7, "count"),
    "expect_collaborators_bad": ("    expect: {collaborators: [nobody]}\n", 7, "collaborators[0]"),
    "entry_title_empty": ("    expect: {entries: [{type: note, title: ''}]}\n", 7, "entries[0].title"),
    "entry_unknown_key": ("    expect: {entries: [{type: note, txt: x}]}\n", 7, "entries[0].txt"),
}


def files(folder: Path) -> None:
    (folder / "ok.txt").write_text("fine\n")
    (folder / "empty.txt").write_text("")
    (folder / "fake.jpg").write_text("not a picture")
    (folder / "big.bin").write_bytes(b"\0" * ((1 << 20) + 1))


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_collaborator_and_attachment_fields_name_file_and_line(tmp_path: Path, name: str) -> None:
    lines, line, words = BAD[name]
    files(tmp_path)
    assert_named_at(tmp_path / "s.yaml", HEAD + lines, line, words)


def test_portal_tickets_and_portal_replies_take_attachments(tmp_path: Path) -> None:
    """Issue 24: the Support Center's form and reply form have osTicket's upload field; files were refused."""
    files(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "    channel: portal\n    topic: T\n    attachments: [ok.txt]\n    steps:\n"
                    "      - {as: requester, do: reply, text: hi, attachments: [ok.txt]}\n", encoding="utf-8")
    ticket = load_scenario(path).scenario.tickets[0]
    assert ticket.attachments == ["ok.txt"] and ticket.steps[0].attachments == ["ok.txt"]  # type: ignore[union-attr]


def test_cli_exits_2_for_a_missing_attachment(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    stderr = run_refused(path, HEAD + "    attachments: [gone.pdf]\n")
    assert f"{path}:7 tickets[0].attachments[0]: attachment 'gone.pdf'" in stderr


def test_good_fields_load_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "log.txt").write_text("x")
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "    channel: email\n    cc: [c@example.com]\n    attachments: [sub/log.txt]\n    steps:\n"
                    "      - {as: john.doe, do: add_collaborator, email: d@example.com, name: D}\n"
                    "      - {as: john.doe, do: note, text: n, attachments: [sub/log.txt]}\n"
                    "      - {as: requester, do: reply, text: r, attachments: [sub/log.txt]}\n"
                    "    expect:\n      collaborators: [c@example.com, d@example.com]\n"
                    "      attachments: {count: 3, names: [log.txt]}\n"
                    "      entries: [{type: note, by: system, title: File Import Error, text_contains: x}]\n")
    ticket = load_scenario(path).scenario.tickets[0]
    assert ticket.attachments == ["sub/log.txt"] and ticket.expect.attachments is not None


def _facts() -> TicketFacts:
    now = dt.datetime(2026, 1, 1)
    facts = TicketFacts(1, "100001", "a", "S", "Open", "open", None, None, None, None, None, None, "K",
                        "k@example.com", False, now, None, None)
    facts.entries = [Entry("N", "john.doe", now, 5, "Drum unit", "The drum is worn", staff_id=2),
                     Entry("N", "SYSTEM", now, 6, "File Import Error", "big.log: File size is too large",
                           system=True)]
    facts.collaborators = [Collaborator("c@example.com", "C", False)]
    facts.attachments = [Attached(5, "drum.png", 10, "image/png")]
    return facts


def test_a_system_note_never_counts_as_an_agents() -> None:
    facts = _facts()
    assert check_entries([EntryExpect(type="note", by="system", title="File Import Error")], facts) == []
    [problem] = check_entries([EntryExpect(type="note", by="john.doe", title="File Import Error")], facts)
    assert problem.startswith("thread entry note by john.doe titled 'File Import Error': not in osTicket")
    assert "#6 system note 'File Import Error': 'big.log: File size is too large'" in problem
    assert "#5 note by john.doe 'Drum unit'" in problem
    # one entry matches one expectation
    assert len(check_entries([EntryExpect(type="note", text_contains="drum")] * 2, facts)) == 1


def test_collaborators_and_attachments_name_what_is_there() -> None:
    facts = _facts()
    assert check_collaborators(["C@example.com"], facts) == []
    assert check_collaborators([], facts) == ["collaborators: expected [none], actual [c@example.com (inactive)]"]
    assert check_attachments(1, ["drum.png"], facts) == []
    assert check_attachments(2, ["order.pdf"], facts) == [
        "attachments: expected 2, actual 1 (drum.png)", "attachments: 'order.pdf' not attached (attached: drum.png)"]
