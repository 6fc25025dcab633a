"""Seed as code against a REAL fresh osTicket (issue 3 acceptance)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from automation.credentials import CredentialStore
from automation.errors import SeedError
from automation.osticket.db import Tables, connect
from automation.seeding import apply as apply_module
from automation.seeding import apply_seed, load_seed, plan_seed
from automation.seeding.loader import parse_seed
from automation.workspace import Workspace
from tests.conftest import LocalOsTicket, bring_up
from tests.helpers.osticket import REPO, ostops, query, staff_login
from tests.helpers.seed_factory import large_org_yaml

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """The acceptance is stated for a fresh osTicket: this module gets its own, whatever ran before."""
    yield from bring_up("ostops-e2e-seed-")

HELPDESK = REPO / "seed" / "helpdesk.yaml"
TOUCHED = ["sla", "department", "staff", "staff_dept_access", "team", "team_member", "help_topic",
           "help_topic_form", "api_key", "user", "user_email", "organization", "form_entry",
           "form_entry_values", "config"]


def fingerprint(osticket: Any) -> dict[str, Any]:
    prefix = osticket.instance.db.table_prefix
    out = {}
    for table in TOUCHED:
        count = query(osticket, f"SELECT COUNT(*) AS n FROM {prefix}{table}")[0]["n"]
        checksum = query(osticket, f"CHECKSUM TABLE {prefix}{table}")[0]["Checksum"]
        out[table] = (count, checksum)
    return out


def create_ticket(osticket: Any, topic: str, key: str | None = None) -> dict[str, Any]:
    topic_id = query(osticket, "SELECT topic_id FROM ost_help_topic WHERE topic = %s", [topic])[0]["topic_id"]
    resp = requests.post(osticket.instance.base_url + "api/tickets.json", timeout=30,
                         headers={"X-API-Key": key or osticket.instance.api_key.get_secret_value()},
                         json={"name": "Karen Doe", "email": "karen.doe@example.com", "subject": f"{topic} test",
                               "message": "Online banking login fails with an error.", "topicId": topic_id})
    assert resp.status_code == 201, resp.text
    return query(osticket, "SELECT * FROM ost_ticket WHERE number = %s", [resp.text.strip()])[0]


BROKEN = {
    "invalid_yaml": ("slas:\n  - name: Sev-A\n    grace_hours: [1\n", r"broken\.yaml:\d+: invalid YAML"),
    "unknown_reference": ("teams:\n  - name: Broken Team\n    members: [jane.doe, jdoe2]\n",
                          r"broken\.yaml:3 teams\[0\]\.members\[1\]: unknown agent 'jdoe2'"),
    "duplicate_username": (
        ("agents:\n"
        "  - {username: dup.agent, first_name: A, last_name: B, email: a@example.com, department: Support, "
        "role: All Access}\n"
        "  - {username: dup.agent, first_name: C, last_name: D, email: c@example.com, department: Support, "
        "role: All Access}\n"),
        r"broken\.yaml:3 agents\[1\]\.username: duplicate username 'dup.agent'"),
    "wrong_type": ("slas:\n  - name: Sev-X\n    grace_hours: soon\n",
                   r"broken\.yaml:3 slas\[0\]\.grace_hours: Input should be a valid integer"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_files_exit_2_and_write_nothing(osticket: Any, tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    # valid creates beside the broken part, so a partial write would show
    broken = tmp_path / "broken.yaml"
    broken.write_text(text + "users:\n  - {name: Should Not Exist, email: nobody@example.com}\n")
    before = fingerprint(osticket)
    for extra in ([], ["--plan"]):
        result = ostops(osticket, "seed", str(broken), *extra)
        assert result.returncode == 2, result.stderr
        assert re.search(expected, result.stderr), result.stderr
    assert fingerprint(osticket) == before


def test_failure_inside_the_transaction_rolls_everything_back(osticket: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(osticket)

    def explode(cur: Any) -> None:
        cur.execute(f"SELECT COUNT(*) AS n FROM {Tables(osticket.instance.db.table_prefix).staff}")
        assert cur.fetchone()["n"] >= 3  # the agents were inserted in this transaction ...
        raise RuntimeError("boom")       # ... and are rolled back

    monkeypatch.setattr(apply_module, "_before_commit", explode)
    with pytest.raises(RuntimeError, match="boom"):
        apply_seed(osticket.instance, load_seed(HELPDESK), tmp_path / "credentials.json")
    assert fingerprint(osticket) == before


def test_apply_then_plan_is_clean(osticket: Any) -> None:
    first = ostops(osticket, "seed", str(HELPDESK), "--plan", "--json")
    assert first.returncode == 0, first.stderr
    planned = json.loads(first.stdout)
    assert planned["create"] >= 14
    assert planned["applied"] is False
    assert {(c["kind"], c["key"]) for c in planned["changes"]} >= {("sla", "Sev-A"), ("agent", "john.doe"),
                                                                    ("team", "Online Banking")}
    applied = ostops(osticket, "seed", str(HELPDESK))
    assert applied.returncode == 0, applied.stderr
    again = json.loads(ostops(osticket, "seed", str(HELPDESK), "--plan", "--json").stdout)
    assert (again["create"], again["update"], again["changes"]) == (0, 0, [])
    # installed rows were matched, not duplicated; the instance's API key was not rotated
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_sla WHERE name = 'Default SLA'")[0]["n"] == 1
    assert query(osticket, "SELECT COUNT(*) AS n FROM ost_help_topic WHERE topic = 'Report a Problem'")[0]["n"] == 1
    keys = query(osticket, "SELECT apikey FROM ost_api_key WHERE ipaddr = '127.0.0.1'")
    assert [k["apikey"] for k in keys] == [osticket.instance.api_key.get_secret_value()]
    creds = Workspace(osticket.instance_path).credentials_file
    assert creds.stat().st_mode & 0o777 == 0o600
    for username in ("john.doe", "jane.doe"):
        password = Workspace(osticket.instance_path).credentials().agent(username)
        assert password
        assert password not in applied.stdout + applied.stderr


def test_invariants_of_seeded_rows(osticket: Any) -> None:
    staff = {r["username"]: r for r in query(osticket, "SELECT * FROM ost_staff")}
    john, jane = staff["john.doe"], staff["jane.doe"]
    assert john["passwd"].startswith("$2y$")
    assert json.loads(john["extra"])["def_assn_role"] is True  # osTicket adds browser_lang at first login
    assert json.loads(jane["permissions"])["user.dir"] == 1
    depts = {r["id"]: r for r in query(osticket, "SELECT * FROM ost_department")}
    for dept in depts.values():
        assert dept["path"] == f"/{dept['id']}/"
    access = query(osticket, "SELECT staff_id, dept_id FROM ost_staff_dept_access")
    assert all((a["staff_id"], a["dept_id"]) != (s["staff_id"], s["dept_id"]) for a in access for s in staff.values())
    team = query(osticket, "SELECT * FROM ost_team WHERE name = 'Online Banking'")[0]
    members = query(osticket, "SELECT staff_id FROM ost_team_member WHERE team_id = %s", [team["team_id"]])
    assert [m["staff_id"] for m in members] == [jane["staff_id"]]
    assert team["lead_id"] == jane["staff_id"]
    forms = query(osticket, "SELECT t.topic FROM ost_help_topic t LEFT JOIN ost_help_topic_form f "
                            "ON f.topic_id = t.topic_id AND f.form_id = 2 WHERE f.id IS NULL")
    assert forms == []
    users = query(osticket, "SELECT u.name, e.address FROM ost_user u JOIN ost_user_email e "
                            "ON e.id = u.default_email_id JOIN ost_organization o ON o.id = u.org_id "
                            "WHERE o.name = 'Doe Family' ORDER BY u.name")
    assert users == [{"name": "Karen Doe", "address": "karen.doe@example.com"},
                     {"name": "Ken Doe", "address": "ken.doe@example.com"}]


def test_db_drift_updates_exactly_that_row(osticket: Any) -> None:
    query(osticket, "UPDATE ost_sla SET grace_period = 9 WHERE name = 'Sev-B'")
    plan = json.loads(ostops(osticket, "seed", str(HELPDESK), "--plan", "--json").stdout)
    assert plan["update"] == 1
    assert plan["create"] == 0
    assert plan["changes"] == [{"kind": "sla", "key": "Sev-B", "action": "update",
                                "fields": {"grace_hours": {"from": 9, "to": 4}}}]
    before = {r["name"]: r for r in query(osticket, "SELECT * FROM ost_sla")}
    time.sleep(1.1)  # so that a touched `updated` would differ
    assert ostops(osticket, "seed", str(HELPDESK)).returncode == 0
    after = {r["name"]: r for r in query(osticket, "SELECT * FROM ost_sla")}
    assert after["Sev-B"]["grace_period"] == 4
    assert after["Sev-B"]["updated"] > before["Sev-B"]["updated"]
    assert {k: v for k, v in after.items() if k != "Sev-B"} == {k: v for k, v in before.items() if k != "Sev-B"}


def test_every_seeded_agent_can_log_in(osticket: Any) -> None:
    for username in [a.username for a in load_seed(HELPDESK).agents]:
        password = Workspace(osticket.instance_path).credentials().agent(username)
        assert password, f"no stored password for {username}"
        staff_login(osticket.instance.base_url, username, password)


def test_seeded_team_can_be_assigned_through_the_staff_panel(osticket: Any) -> None:
    ticket = create_ticket(osticket, "Report a Problem")
    it_support = query(osticket, "SELECT id FROM ost_department WHERE name = 'IT Support'")[0]["id"]
    assert ticket["dept_id"] == it_support
    team_id = query(osticket, "SELECT team_id FROM ost_team WHERE name = 'Online Banking'")[0]["team_id"]
    base = osticket.instance.base_url
    session = staff_login(base, "john.doe", Workspace(osticket.instance_path).credentials().agent("john.doe") or "")
    page = session.get(base + f"scp/tickets.php?id={ticket['ticket_id']}", timeout=30)
    token = re.search(r'<meta name="csrf_token" content="([^"]+)"', page.text)
    assert token, "no csrf meta on the ticket page"
    resp = session.post(base + f"scp/ajax.php/tickets/{ticket['ticket_id']}/assign/teams",
                        data={"assignee": f"t{team_id}", "comments": ""},
                        headers={"X-CSRFToken": token.group(1), "X-Requested-With": "XMLHttpRequest"}, timeout=30)
    assert resp.status_code == 201, resp.text[:500]
    row = query(osticket, "SELECT team_id FROM ost_ticket WHERE ticket_id = %s", [ticket["ticket_id"]])[0]
    assert row["team_id"] == team_id


def test_sla_on_24_7_schedule_is_wall_clock(osticket: Any) -> None:
    ticket = create_ticket(osticket, "Online Banking Outage")
    sla = query(osticket, "SELECT id, grace_period FROM ost_sla WHERE name = 'Sev-A'")[0]
    assert ticket["sla_id"] == sla["id"]
    assert ticket["est_duedate"] == ticket["created"] + timedelta(hours=sla["grace_period"])


def test_seeded_api_key_creates_a_ticket_from_localhost(osticket: Any) -> None:
    key = query(osticket, "SELECT apikey FROM ost_api_key WHERE ipaddr = '127.0.0.1' AND isactive = 1 "
                          "AND can_create_tickets = 1")[0]["apikey"]
    ticket = create_ticket(osticket, "Payment Failure", key=key)
    assert ticket["source"] == "API"


def test_generated_api_key_and_env_password(osticket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED_TEST_PW", "Env-Password-123")
    seed = parse_seed(
        "agents:\n"
        "  - {username: env.agent, first_name: Env, last_name: Agent, email: env.agent@example.com,"
        " department: Support, role: View only, password_env: SEED_TEST_PW}\n"
        "api_keys:\n  - {ip: 10.20.30.40, can_exec_cron: false, notes: monitoring}\n", "env.yaml")
    creds = tmp_path / "credentials.json"
    plan = apply_seed(osticket.instance, seed, creds)
    assert plan.create == 2
    stored = json.loads(creds.read_text())
    assert "env.agent" not in stored["agents"]  # environment passwords are not copied to disk
    row = query(osticket, "SELECT apikey FROM ost_api_key WHERE ipaddr = '10.20.30.40'")[0]
    assert stored["api_keys"]["10.20.30.40"] == row["apikey"]
    assert re.fullmatch(r"[0-9A-F]{32}", row["apikey"])
    staff_login(osticket.instance.base_url, "env.agent", "Env-Password-123")
    monkeypatch.setenv("SEED_TEST_PW", "Changed-Password-456")
    conn = connect(osticket.instance)
    try:
        replan = plan_seed(conn, Tables(osticket.instance.db.table_prefix), seed, CredentialStore(creds))
    finally:
        conn.close()
    assert [(c.key, list(c.fields)) for c in replan.changes] == [("env.agent", ["password"])]
    assert "Changed-Password-456" not in json.dumps(replan.to_json())


@pytest.mark.slow
def test_large_organization_applies_in_one_transaction(osticket: Any, tmp_path: Path) -> None:
    path = tmp_path / "large.yaml"
    path.write_text(large_org_yaml(agents=100, teams=20, departments=20, slas=10))
    seed = load_seed(path)
    creds = tmp_path / "credentials.json"
    started = time.monotonic()
    plan = apply_seed(osticket.instance, seed, creds)
    applied = time.monotonic() - started
    assert plan.create == 150
    assert plan.update == 0
    started = time.monotonic()
    conn = connect(osticket.instance)
    try:
        replan = plan_seed(conn, Tables(osticket.instance.db.table_prefix), seed, CredentialStore(creds))
    finally:
        conn.close()
    replanned = time.monotonic() - started
    assert (replan.create, replan.update, replan.unchanged) == (0, 0, 150)
    nested = query(osticket, "SELECT d.path, p.path AS parent_path, d.id FROM ost_department d "
                             "JOIN ost_department p ON p.id = d.pid WHERE d.name LIKE 'Perf Unit%%'")
    assert len(nested) == 10
    assert all(r["path"] == f"{r['parent_path']}{r['id']}/" for r in nested)
    members = query(osticket, "SELECT COUNT(*) AS n FROM ost_team_member m JOIN ost_team t "
                              "ON t.team_id = m.team_id WHERE t.name LIKE 'Perf Team%%'")[0]["n"]
    assert members == 100
    print(f"\nlarge org (100 agents, 20 teams, 20 departments, 10 SLAs): apply {applied:.2f} s, "
          f"re-plan {replanned:.2f} s")


def test_seed_error_is_a_usage_error() -> None:
    assert SeedError("x").exit_code == 2


def test_plan_detailed_exitcode_says_whether_changes_are_pending(osticket: Any, tmp_path: Path) -> None:
    assert ostops(osticket, "seed", str(HELPDESK)).returncode == 0
    clean = ostops(osticket, "seed", str(HELPDESK), "--plan", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    query(osticket, "UPDATE ost_sla SET grace_period = 7 WHERE name = 'Sev-C'")
    pending = ostops(osticket, "seed", str(HELPDESK), "--plan", "--detailed-exitcode")
    assert pending.returncode == 3, pending.stdout + pending.stderr
    assert "~ update sla 'Sev-C'" in pending.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("slas:\n  - name: Sev-X\n    grace_hours: soon\n")
    assert ostops(osticket, "seed", str(broken), "--plan", "--detailed-exitcode").returncode == 2
    assert ostops(osticket, "seed", str(HELPDESK)).returncode == 0
    assert ostops(osticket, "seed", str(HELPDESK), "--plan", "--detailed-exitcode").returncode == 0
