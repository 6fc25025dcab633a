"""Issue 14: the run record's ledger catches what the scenario alone cannot see, each difference named."""

import dataclasses
import datetime as dt
import json

import pytest

from automation.errors import ConfigError
from automation.scenarios import ledger
from automation.scenarios.facts import Entry, SlaDefinition
from automation.scenarios.record import RunResult, load_record, save
from automation.scenarios.verify import verify
from automation.workspace import Workspace
from tests.unit.test_verify_content import T0, lab_facts, scenario

SLAS = {1: SlaDefinition(1, "Sev-A", 1, 1, 3), 2: SlaDefinition(2, "Sev-B", 4, 1, 3)}


def facts_with_system_note():
    facts = lab_facts(sla_id=1)
    facts.entries.append(Entry("N", "", T0 + dt.timedelta(minutes=20), 99, "Ticket Assigned", "Assigned to team"))
    return facts


def check(tamper):
    """The verdict of a lab ticket whose ledger was taken before ``tamper`` changed it."""
    facts = facts_with_system_note()
    taken = ledger.take([facts], SLAS)
    slas = {i: dataclasses.replace(s) for i, s in SLAS.items()}
    tamper(facts, slas)
    return verify(scenario(), "r1", [facts], T0 + dt.timedelta(hours=2), ledger=taken, slas=slas)


def test_untouched_ticket_passes_and_only_used_slas_are_kept():
    assert check(lambda f, s: None).passed
    assert set(ledger.take([facts_with_system_note()], SLAS, ["Sev-B"]).slas) == {1, 2}
    assert set(ledger.take([facts_with_system_note()], SLAS).slas) == {1}


def rewrite_reply(f, s):
    next(e for e in f.entries if e.type == "R").text = "We did nothing."


def delete_system_note(f, s):
    f.entries = [e for e in f.entries if e.id != 99]


def change_grace(f, s):
    s[1] = dataclasses.replace(s[1], grace_period=200)


def reorder_events(f, s):
    f.events[1].timestamp, f.events[2].timestamp = T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=1)
    f.events.sort(key=lambda e: (e.timestamp, e.id))
    f.history.sort(key=lambda e: (e.timestamp, e.id))


def rewrite_subject(f, s):
    f.subject = "Partial outage"


def retitle(f, s):
    next(e for e in f.entries if e.title == "Investigation").title = "Nothing"


@pytest.mark.parametrize(("tamper", "named"), [
    (rewrite_reply, "reply #7 by jane.doe: body rewritten since the run (now 'We did nothing.')"),
    (delete_system_note, "note #99 by osTicket deleted since the run"),
    (change_grace, "SLA 'Sev-A': grace period 1 h at the run, now 200 h"),
    (reorder_events, ("events reordered since the run: at the run [#0 created, #1 edited, #2 assigned, #3 closed], "
                     "now [#0 created, #3 closed, #2 assigned, #1 edited]")),
    (rewrite_subject, "subject rewritten since the run (now 'Partial outage')"),
    (retitle, "note #6 by jane.doe: title rewritten since the run (now 'Nothing')"),
])
def test_each_tamper_is_named(tamper, named):
    verdict = check(tamper)
    assert not verdict.passed
    assert any(named in line for line in verdict.mismatches()), verdict.mismatches()


def test_a_changed_event_timestamp_is_named_with_both_times():
    def move(f, s):
        f.events[2].timestamp = T0 - dt.timedelta(hours=1)
    lines = check(move).mismatches()
    assert any("event #2 assigned: timestamp 2026-11-27 10:00:00 at the run, now 2026-11-27 09:00:00" in line
               for line in lines), lines


def test_an_annulled_event_is_held_to_the_run_too():
    def annul(f, s):
        f.history[1].annulled = True
        f.events = [e for e in f.history if not e.annulled]
    assert "event #1 edited annulled since the run" in " ".join(check(annul).mismatches())

    facts = facts_with_system_note()
    facts.history[2].annulled = True
    facts.events = [e for e in facts.history if not e.annulled]
    taken = ledger.take([facts], SLAS)
    facts.history[2].timestamp = T0 + dt.timedelta(days=1)
    lines = verify(scenario(), "r1", [facts], T0, ledger=taken, slas=SLAS).mismatches()
    assert any("event #2 assigned: timestamp 2026-11-27 10:00:00 at the run, now 2026-11-28" in x for x in lines)


def test_the_ledger_round_trips_through_the_run_record(tmp_path):
    workspace = Workspace(tmp_path / "instance.json")
    result = RunResult("r1", "lab.yaml", tickets={"online-banking-down": {"number": "123456", "ticket_id": 1}},
                       id_range=(10, 13), ledger=ledger.take([facts_with_system_note()], SLAS))
    save(workspace, result)
    record = load_record(workspace, "r1")
    assert record is not None
    assert (record.ticket_ids, record.id_range) == ({"online-banking-down": 1}, (10, 13))
    assert record.ledger == result.ledger
    assert load_record(workspace, "other") is None


@pytest.mark.parametrize("text", ["{", "[]", '{"tickets": {"a": {"ticket_id": "x"}}}',
                                  '{"ledger": {"tickets": {}}}'])
def test_a_broken_record_is_named(tmp_path, text):
    workspace = Workspace(tmp_path / "instance.json")
    workspace.runs_dir.mkdir()
    workspace.run_file("r1").write_text(text)
    with pytest.raises(ConfigError, match=r"r1\.json: not a run record"):
        load_record(workspace, "r1")


def test_the_record_keeps_digests_not_bodies(tmp_path):
    workspace = Workspace(tmp_path / "instance.json")
    save(workspace, RunResult("r1", "lab.yaml", ledger=ledger.take([facts_with_system_note()], SLAS)))
    text = workspace.run_file("r1").read_text()
    assert "Assigned to team" not in text and "Investigation" not in text
    assert json.loads(text)["ledger"]["tickets"]["online-banking-down"]["entries"][0]["text"] == \
        ledger.digest(facts_with_system_note().entries[0].text)
