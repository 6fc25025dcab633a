"""Issue 19: text is compared as osTicket means it. The one normalisation (`automation.osticket.text.shown`) on the
forms osTicket 1.18.1 was measured to store, the load-time refusal of what it cannot keep, and the run ledger's
digests of records written before the normalisation."""

import datetime as dt
from pathlib import Path

import pytest

from automation.osticket.text import formula, normal, shown, unkept
from automation.scenarios import ledger
from automation.scenarios.facts import Entry, TicketFacts
from automation.scenarios.loader import load_scenario
from automation.scenarios.models import Scenario
from automation.scenarios.verify import posted_entries, verify
from tests.helpers.scenario_input import run_refused

T0 = dt.datetime(2026, 12, 6, 10, 0, 0)
QUOTED = 'Three pumps on 4B show "drug library missing" after the overnight update.'


@pytest.mark.parametrize(("stored", "fmt", "seen"), [
    # A text-format entry as the ticket API and e-mail leave it: HTML-escaped, without double encoding.
    ("Three pumps on 4B show &quot;drug library missing&quot; after the overnight update.", "text", QUOTED),
    ("R&amp;D &lt; 5 ml &gt; 2 'pump'", "text", "R&D < 5 ml > 2 'pump'"),
    ("&amp;lt; stays one level", "text", "&lt; stays one level"),  # osTicket keeps &amp;lt; for a typed &lt;
    ("&amp;copy2024 &#39;x&#x27; &bogus;", "text", "&copy2024 'x' &bogus;"),
    ("1 &lt; 2 &lt;p&gt;", "text", "1 < 2 <p>"),  # a plain-text body is not parsed as HTML
    ("  a\r\n\r\n b\t c \n", "text", "a b c"),  # Windows line ends, tabs, ends trimmed
    ("nb\u00a0sp\u3000ideographic", "text", "nb sp ideographic"),
    # An html-format entry (Support Center, staff panel): markup reduced to text, entities decoded.
    ("<p>Rolled back.</p><p>Portal  answers\nagain.</p>", "html", "Rolled back. Portal answers again."),
    ("line one<br />line two &amp; three", "html", "line one line two & three"),
    ("<div><p>a <b>bold <i>nested</i></b> word</p><ul><li>x</li><li>y</li></ul></div>", "html",
     "a bold nested word x y"),
    ("a&nbsp;&nbsp;b &quot;q&quot; &lt;x&gt; &amp;lt;", "html", 'a b "q" <x> &lt;'),
    ("\u05e9\u05dc\u05d5\u05dd &amp; \u65e5\u672c caf\u00e9", "html", "\u05e9\u05dc\u05d5\u05dd & \u65e5\u672c caf\u00e9"),
    # Plain text as written (a scenario's): only whitespace changes.
    ("  &amp; <b>as written</b>\r\n", "plain", "&amp; <b>as written</b>"),
    (None, "html", ""),
    ("", "text", ""),
])
def test_shown_reads_what_osticket_stores_as_its_reader_sees_it(stored, fmt, seen):
    assert shown(stored, fmt) == seen


def test_both_sides_meet_for_the_quoted_message():
    # The scenario's side (plain) and osTicket's text-format entry of it (escaped) read the same.
    assert shown(QUOTED, "plain") == normal(QUOTED) == shown(QUOTED.replace('"', "&quot;"), "text")


@pytest.mark.parametrize(("text", "kind", "reason"), [
    ("grin \U0001F600", "body", "removes '\U0001F600' (U+1F600)"),
    ("\u00abBonjour\u00bb", "subject", "removes '\u00ab' (U+00AB)"),  # a BMP character osTicket strips too
    ("done \u2713", "title", "removes '\u2713' (U+2713)"),
    ("clef \U0001D11E", "body", "cannot store '\U0001D11E' (U+1D11E)"),
    ("R&amp;D", "body", "reads '&amp;' as an HTML character reference and shows '&'"),
    ("it&#39;s", "subject", "shows \"'\""),
    ("use <Ctrl>+C", "body", "reads '<Ctrl>+C' as HTML markup"),
    ("a</b", "title", "as HTML markup"),
    ("<3 pumps", "subject", "drops it from the subject"),
    ("line\r\nbreak", "subject", "a subject is one line"),
    ("0", "body", "keeps no text"),
    ("   ", "body", "keeps no text"),
    ("x" * 70000, "body", "too long for osTicket: 70000 bytes"),
    ('"' * 50, "title", "too long for osTicket: 300 characters"),
])
def test_what_osticket_does_not_keep_is_named(text, kind, reason):
    problem = unkept(text, kind)
    assert problem is not None and reason in problem, problem


@pytest.mark.parametrize(("text", "kind"), [
    (QUOTED, "body"), ("R&D & AT&T; &copy2024 &bogus;", "body"), ("1 < 2, x<3, a <= b, <-, <> \u00e9<\u00e9", "body"),
    ("a < b > c", "subject"), ("caf\u00e9 \u65e5\u672c\u8a9e \u05e2\u05d1\u05e8\u05d9\u05ea \u0645\u0631\u062d\u0628\u0627", "subject"),
    ("  leading and trailing  ", "body"), ("Windows\r\nline ends", "body"), ("", "title"),
])
def test_ordinary_text_is_kept(text, kind):
    assert unkept(text, kind) is None


def test_a_formula_like_start_is_named():
    assert "starting with '='" in (formula("=SUM(A1)", "subject") or "")
    assert formula("+4912345", "name") is None  # a phone number is let through
    assert formula(" =lead", "subject") is None


def test_unkept_text_is_refused_at_load_time_by_file_and_line(tmp_path: Path):
    stderr = run_refused(tmp_path / "s.yaml", (
        "name: s\ntickets:\n  - key: a\n    requester: {name: Karen Doe, email: karen.doe@example.com}\n"
        "    subject: Pumps \U0001F600 down\n    message: It shows <NULL> & R&amp;D\n"
        "    steps:\n      - {as: john.doe, do: note, title: ok, text: \"\U0001D11E\"}\n"
        "  - key: b\n    requester: {name: Ken Doe, email: ken.doe@example.com}\n"
        "    subject: '=cmd'\n    message: fine\n"
        "  - key: c\n    channel: email\n    requester: {name: Ken Doe, email: ken.doe@example.com}\n"
        "    subject: '-- by e-mail osTicket takes it'\n    message: fine\n"))
    assert f"{tmp_path / 's.yaml'}:5 tickets[0].subject: osTicket 1.18.1 removes" in stderr
    assert f"{tmp_path / 's.yaml'}:6 tickets[0].message: osTicket reads '&amp;' as an HTML character reference" \
        in stderr
    assert f"{tmp_path / 's.yaml'}:8 tickets[0].steps[0].text: osTicket 1.18.1 cannot store" in stderr
    assert f"{tmp_path / 's.yaml'}:11 tickets[1].subject: osTicket 1.18.1 refuses a subject starting with '='" in stderr
    assert "tickets[2]" not in stderr


def _facts(entries, subject="Pumps & \"library\"  ", full_subject=None):
    return TicketFacts(ticket_id=1, number="1", key="a", subject=shown(subject), status="Open", state="open", sla=None,
                       department=None, agent=None, team=None, topic=None, priority=None, requester="K",
                       requester_email="karen.doe@example.com", overdue=False, created=T0, closed=None, due=None,
                       entries=entries, full_subject=full_subject or subject + " [ostops r1 a]", source="API")


def _entry(i, kind, by, body, fmt, title=""):
    return Entry(kind, by, T0 + dt.timedelta(minutes=i), i, shown(title), shown(body, fmt), stored_title=title,
                 body=body, format=fmt)


ESCAPED = "Three pumps on 4B show &quot;drug library missing&quot; after the overnight update."


def _scenario():
    return Scenario.model_validate({"name": "s", "tickets": [{
        "key": "a", "requester": {"name": "K", "email": "karen.doe@example.com"},
        "subject": 'Pumps & "library"', "message": QUOTED,
        "steps": [{"as": "john.doe", "do": "note", "title": "R&D's \"view\"", "text": "Use < 5 ml & restart"}]}],
        "review": {"open_tickets": 1}})


def test_the_quoted_message_verifies_against_osticket_s_escaped_entry():
    entries = [_entry(1, "M", "requester", ESCAPED, "text", 'Pumps &amp; "library"'),
               _entry(2, "N", "john.doe", "Use &lt; 5 ml &amp; restart", "html", "R&amp;D's \"view\"")]
    facts = _facts(entries)
    assert posted_entries(_scenario().tickets[0])[0].text == QUOTED
    verdict = verify(_scenario(), "r1", [facts], T0)
    assert verdict.passed, verdict.mismatches()
    taken = ledger.take([facts], {})
    assert taken.text_form == ledger.TEXT_FORM
    again = ledger.Ledger.from_json(taken.to_json())
    assert verify(_scenario(), "r1", [facts], T0, ledger=again, slas={}).passed
    facts.entries[0] = _entry(1, "M", "requester", ESCAPED.replace("4B", "4C"), "text")
    assert any("body rewritten since the run" in m for m in verify(_scenario(), "r1", [facts], T0, ledger=again,
                                                                    slas={}).mismatches())


def test_a_record_written_before_the_normalisation_is_compared_in_its_own_form():
    entries = [_entry(1, "M", "requester", ESCAPED, "text", 'Pumps &amp; "library"')]
    facts = _facts(entries)
    # What a record of form 1 holds: the escaped body and title, the subject with its whitespace, as osTicket had them.
    old = {"tickets": {"a": {"ticket_id": 1, "number": "1", "subject": ledger.digest('Pumps & "library"'),
                             "entries": [{"id": 1, "type": "M", "by": "requester",
                                          "title": ledger.digest('Pumps &amp; "library"'),
                                          "text": ledger.digest(ESCAPED)}], "events": []}}, "slas": {}}
    loaded = ledger.Ledger.from_json(old)
    assert loaded.text_form == 1
    assert ledger.compare(loaded.tickets["a"], facts, loaded.text_form) == []
    assert ledger.compare(loaded.tickets["a"], facts) != []  # read in today's form it would be a false alarm
    facts.entries[0] = _entry(1, "M", "requester", ESCAPED.replace("4B", "4C"), "text", 'Pumps &amp; "library"')
    assert ledger.compare(loaded.tickets["a"], facts, 1) == [
        ("message #1 by requester: body rewritten since the run (now 'Three pumps on 4C show \"drug library "
         "missing\" after the o...')")]


def test_the_lab_scenario_has_no_text_osticket_would_not_keep():
    load_scenario(Path(__file__).resolve().parents[2] / "seed" / "scenarios" / "lab.yaml")

