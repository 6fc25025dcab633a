"""Issue 23: JUnit test names that survive editing the scenario. A step's name is its `id:`, else its actor and
action with its rank among the ticket's steps of that actor and action; inserting a step elsewhere renames no
other step, and two steps of one ticket with one id are refused by file:line (exit 2, nothing run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation.errors import ScenarioError
from automation.scenarios.loader import load_scenario
from automation.scenarios.models import TicketSpec, case_names

NOTE = '      - {as: john.doe, do: note, text: "Checked the pumps\' library: \\"v2.1\\" & <= v2.0 — à revoir."}'
SLA = "      - {as: john.doe, do: change_sla, sla: Sev-B}"
REPLY = '      - {as: requester, do: reply, text: "Still down & the ward\'s \\"café\\" too."}'
CLOSE = "      - {as: jane.doe, do: set_status, status: Closed}"


def ticket(folder: Path, steps: list[str], name: str = "t.yaml") -> TicketSpec:
    path = folder / name
    path.write_text("name: Ward 4B \"pumps\" & co\ntickets:\n  - key: pump-4b\n"
                    "    requester: {name: \"Zoë Ångström-Núñez\", email: zoe@example.com}\n"
                    "    subject: 'Pumps on 4B show \"drug library missing\" & alarm'\n"
                    "    message: Three pumps show it after the update.\n"
                    "    steps:\n" + "\n".join(steps) + "\n", encoding="utf-8")
    return load_scenario(path).scenario.tickets[0]


def test_a_step_of_another_kind_inserted_anywhere_renames_no_other_step(tmp_path: Path) -> None:
    before = case_names(ticket(tmp_path, [NOTE, SLA, NOTE, CLOSE]))
    assert before == ["pump-4b / requester create", "pump-4b / john.doe note", "pump-4b / john.doe change_sla",
                      "pump-4b / john.doe note #2", "pump-4b / jane.doe set_status"]
    for at in range(5):
        steps = [NOTE, SLA, NOTE, CLOSE]
        steps.insert(at, REPLY)
        after = case_names(ticket(tmp_path, steps))
        assert after[1 + at] == "pump-4b / requester reply"
        assert after[:1 + at] + after[2 + at:] == before, at


def test_a_step_of_the_same_kind_renames_only_the_later_steps_of_that_kind(tmp_path: Path) -> None:
    after = case_names(ticket(tmp_path, [SLA, NOTE, NOTE, CLOSE, NOTE]))
    assert after == ["pump-4b / requester create", "pump-4b / john.doe change_sla", "pump-4b / john.doe note",
                     "pump-4b / john.doe note #2", "pump-4b / jane.doe set_status", "pump-4b / john.doe note #3"]
    # Appended after the others of its kind: nothing is renamed.
    assert case_names(ticket(tmp_path, [SLA, NOTE, NOTE, CLOSE, NOTE, NOTE]))[:-1] == after


def test_an_id_is_the_name_and_giving_one_renames_no_other_step(tmp_path: Path) -> None:
    named = NOTE.replace("{as: john.doe,", "{id: first-look, as: john.doe,")
    names = case_names(ticket(tmp_path, [named, SLA, NOTE, CLOSE]))
    assert names == ["pump-4b / requester create", "pump-4b / first-look", "pump-4b / john.doe change_sla",
                     "pump-4b / john.doe note #2", "pump-4b / jane.doe set_status"]
    # An id'd step inserted first still counts among the notes: the later note keeps its name.
    inserted = case_names(ticket(tmp_path, [named, NOTE, SLA, NOTE, CLOSE]))
    assert inserted[1] == "pump-4b / first-look" and inserted[2] == "pump-4b / john.doe note #2"


def test_two_steps_of_one_ticket_with_one_id_are_refused_by_file_and_line(tmp_path: Path) -> None:
    steps = [NOTE.replace("{as:", "{id: triage, as:"), SLA, CLOSE.replace("{as:", "{id: triage, as:")]
    with pytest.raises(ScenarioError) as info:
        ticket(tmp_path, steps)
    path = tmp_path / "t.yaml"
    assert info.value.exit_code == 2
    assert info.value.problems == [
        (f"{path}:10 tickets[0].steps[2].id: duplicate step id 'triage' in ticket 'pump-4b': step 1 at line 8 has it "
        "already; give each step of a ticket an id of its own (ids may repeat in other tickets)")]


def test_one_id_in_two_tickets_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    body = "\n".join(f"""  - key: t{i}
    requester: {{name: "Zoë", email: zoe@example.com}}
    subject: Pump {i} & co
    message: "Ré-essayé {i}"
    steps:
      - {{id: triage, as: john.doe, do: note, text: Looked.}}""" for i in range(2))
    path.write_text(f"name: two\ntickets:\n{body}\n", encoding="utf-8")
    tickets = load_scenario(path).scenario.tickets
    assert [case_names(t)[1] for t in tickets] == ["t0 / triage", "t1 / triage"]


@pytest.mark.parametrize("bad", ["two words", "a.b", "-lead", ""])
def test_an_id_that_could_meet_another_name_is_refused(tmp_path: Path, bad: str) -> None:
    """No space and no dot: an id can never be an automatic name (`as do`) or `expect.mail`."""
    with pytest.raises(ScenarioError) as info:
        ticket(tmp_path, [NOTE.replace("{as:", f"{{id: {json.dumps(bad)}, as:")])
    assert f"{tmp_path / 't.yaml'}:8 tickets[0].steps[0].id" in "\n".join(info.value.problems)


def test_the_cli_refuses_duplicate_ids_before_touching_any_instance(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_cli_exit_codes import run_main

    ticket_path = tmp_path / "t.yaml"
    with pytest.raises(ScenarioError):
        ticket(tmp_path, [NOTE.replace("{as:", "{id: x, as:"), NOTE.replace("{as:", "{id: x, as:")])
    junit = tmp_path / "out.xml"
    code = run_main(monkeypatch, "run", str(ticket_path), "--junit", str(junit), "--instance",
                    str(tmp_path / "none.json"))
    assert code == 2 and not junit.exists()


def test_the_schema_offers_the_id() -> None:
    from automation.schemas import generate

    step = json.loads(generate("scenario.schema.json"))["$defs"]["Note"]["properties"]["id"]
    assert {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$", "maxLength": 100} in step["anyOf"]
