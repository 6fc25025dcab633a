"""Planning against a synthetic osTicket state (no database)."""

from __future__ import annotations

import pytest

from automation.errors import SeedError
from automation.seeding.loader import parse_seed
from automation.seeding.plan import State, diff, normalize_phone


def fresh_state() -> State:
    """What a fresh osTicket install holds (OSTICKET_FACTS §2), trimmed."""
    return State(
        slas=[{"id": 1, "schedule_id": 0, "flags": 3, "grace_period": 18, "name": "Default SLA", "notes": None}],
        depts=[{"id": 1, "pid": None, "name": "Support", "sla_id": 0, "schedule_id": 0, "manager_id": 0,
                "flags": 4, "ispublic": 1, "path": "/1/"},
               {"id": 3, "pid": None, "name": "Maintenance", "sla_id": 0, "schedule_id": 0, "manager_id": 0,
                "flags": 4, "ispublic": 1, "path": "/3/"}],
        staff=[{"staff_id": 1, "dept_id": 1, "role_id": 1, "username": "ostadmin", "firstname": "osTicket",
                "lastname": "Admin", "email": "ostadmin@example.com", "passwd": "$2a$08$x", "isactive": 1,
                "isadmin": 1, "onvacation": 0, "assigned_only": 0, "permissions": ""}],
        teams=[{"team_id": 1, "lead_id": 0, "flags": 1, "name": "Level I Support", "notes": ""}],
        topics=[{"topic_id": 10, "topic_pid": 0, "ispublic": 1, "flags": 2, "priority_id": 2, "dept_id": 3,
                 "sla_id": 0, "sort": 0, "topic": "Report a Problem", "notes": ""}],
        roles=[{"id": 1, "name": "All Access"}, {"id": 2, "name": "Expanded Access"}],
        schedules=[{"id": 1, "name": "Monday - Friday 8am - 5pm with U.S. Holidays"}, {"id": 2, "name": "24/7"}],
        priorities=[{"priority_id": 2, "priority": "normal", "priority_desc": "Normal"},
                    {"priority_id": 4, "priority": "emergency", "priority_desc": "Emergency"}],
        config={"default_sla_id": "1", "default_dept_id": "1", "verify_email_addrs": ""},
        forms={"U": 1, "T": 2, "O": 4}, phone_field_id=3,
    ).index()


SEED = """\
slas:
  - {name: Default SLA, grace_hours: 18}
  - {name: Sev-A, grace_hours: 1, schedule: 24/7}
departments:
  - {name: IT Support, sla: Sev-A, manager: john.doe}
agents:
  - username: john.doe
    first_name: John
    last_name: Doe
    email: john.doe@example.com
    department: IT Support
    role: All Access
    access: [{department: Maintenance, role: Expanded Access}]
teams:
  - {name: Online Banking, lead: john.doe, members: [john.doe, ostadmin]}
help_topics:
  - {name: Report a Problem, department: IT Support, priority: Emergency}
"""


def test_installed_rows_are_matched_not_duplicated() -> None:
    plan = diff(parse_seed(SEED, "s.yaml"), fresh_state())
    by_key = {(c.kind, c.key): c for c in plan.entries}
    assert by_key[("sla", "Default SLA")].action == "unchanged"
    assert by_key[("sla", "Sev-A")].action == "create"
    topic = by_key[("help topic", "Report a Problem")]
    assert topic.action == "update"
    assert set(topic.fields) == {"department", "priority"}
    assert (plan.create, plan.update, plan.unchanged) == (4, 1, 1)
    assert [(str(t), str(a)) for t, a in plan.members_add] == [("Online Banking", "john.doe"),
                                                              ("Online Banking", "ostadmin")]
    assert [(str(a), str(d), str(r)) for a, d, r, _ in plan.access_add] == [
        ("john.doe", "Maintenance", "Expanded Access")]
    assert plan.to_json()["create"] == 4


def test_changed_field_is_the_only_update() -> None:
    state = fresh_state()
    state.slas[0]["grace_period"] = 7
    plan = diff(parse_seed("slas:\n  - {name: default sla, grace_hours: 18}\n", "s.yaml"), state)
    assert plan.to_json()["changes"] == [
        {"kind": "sla", "key": "default sla", "action": "update",
         "fields": {"grace_hours": {"from": 7, "to": 18}, "name": {"from": "Default SLA", "to": "default sla"}}}]


def test_unknown_references_are_all_reported_with_lines() -> None:
    text = """\
teams:
  - name: T
    members: [ostadmin, jdoe2]
agents:
  - {username: agent1, first_name: A, last_name: B, email: a1@example.com, department: Nowhere, role: Boss}
help_topics:
  - {name: Topic One, sla: Sev-Z, priority: NORMAL}
"""
    with pytest.raises(SeedError) as info:
        diff(parse_seed(text, "s.yaml"), fresh_state())
    found = info.value.problems
    assert "s.yaml:3 teams[0].members[1]: unknown agent 'jdoe2'" in found
    assert "s.yaml:5 agents[0].department: unknown department 'Nowhere'" in found
    assert any(p.startswith("s.yaml:5 agents[0].role: unknown role 'Boss' (known: All Access") for p in found)
    assert "s.yaml:7 help_topics[0].sla: unknown SLA 'Sev-Z'" in found
    assert len(found) == 4  # priority NORMAL is osTicket's normal


def test_a_priority_outside_osticket_s_four_names_them() -> None:
    with pytest.raises(SeedError) as info:
        parse_seed("help_topics:\n  - {name: Topic One, priority: urgent}\n", "s.yaml")
    expected = "s.yaml:2 help_topics[0].priority: Input should be 'Low', 'Normal', 'High' or 'Emergency' (got 'urgent')"
    assert info.value.problems == [expected]


def test_default_department_cannot_be_private() -> None:
    with pytest.raises(SeedError) as info:
        diff(parse_seed("departments:\n  - name: Support\n    public: false\n", "s.yaml"), fresh_state())
    assert info.value.problems == ["s.yaml:3 departments[0].public: the default department cannot be private"]


def test_phone_normalization_matches_osticket() -> None:
    assert normalize_phone("555-123-4567") == "5551234567"
    assert normalize_phone("+1 (555) 010 0101 ext. 12") == "15550100101X12"


@pytest.mark.parametrize(("stored", "wanted", "action"), [
    (None, False, "update"),  # missing from ost_config: osTicket's default is on
    (None, True, "unchanged"),
    ("0", False, "unchanged"),
    ("", False, "unchanged"),  # osTicket's Config stores False as ''
    ("1", False, "update"),
])
def test_status_check_email_verification_follows_osticket_default(stored: str | None, wanted: bool,
                                                                  action: str) -> None:
    state = fresh_state()
    if stored is not None:
        state.config["client_verify_email"] = stored
    seed = parse_seed(f"settings:\n  status_check_email_verification: {str(wanted).lower()}\n", "s.yaml")
    change = next(c for c in diff(seed, state).entries if c.kind == "setting")
    assert (change.key, change.action) == ("status_check_email_verification", action)
    assert change.target == {"value": wanted}


@pytest.mark.parametrize(("stored", "wanted", "action"), [
    ("0", True, "update"),  # as osTicket installs it (include/i18n/en_US/config.yaml: ticket_autoresponder: 0)
    (None, True, "update"),  # missing: Config::get gives null, off
    (None, False, "unchanged"),
    ("1", True, "unchanged"),
])
def test_new_ticket_autoresponse_is_osticket_s_ticket_autoresponder(stored: str | None, wanted: bool,
                                                                     action: str) -> None:
    state = fresh_state()
    if stored is not None:
        state.config["ticket_autoresponder"] = stored
    seed = parse_seed(f"settings:\n  new_ticket_autoresponse: {str(wanted).lower()}\n", "s.yaml")
    change = next(c for c in diff(seed, state).entries if c.kind == "setting")
    assert (change.key, change.action, change.row) == ("new_ticket_autoresponse", action,
                                                          {"key": "ticket_autoresponder"})
