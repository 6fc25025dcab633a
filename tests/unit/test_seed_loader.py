"""Seed file loading: every problem reported together with file:line path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automation.credentials import CredentialStore
from automation.errors import SeedError
from automation.seeding import load_seed
from automation.seeding.loader import parse_seed
from automation.seeding.passwords import hash_password, verify_password

REPO = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(SeedError) as info:
        parse_seed(text, "s.yaml")
    assert info.value.exit_code == 2
    assert str(info.value).startswith("s.yaml: ")
    return info.value.problems


def test_reference_file_loads() -> None:
    seed = load_seed(REPO / "seed" / "helpdesk.yaml")
    assert [a.username for a in seed.agents] == ["john.doe", "jane.doe"]
    assert {s.name for s in seed.slas} >= {"Default SLA", "Sev-A", "Sev-B", "Sev-C"}
    assert seed.where("teams[0].members[0]").startswith(f"{REPO / 'seed' / 'helpdesk.yaml'}:")


def test_invalid_yaml_names_the_line() -> None:
    found = problems("slas:\n  - name: A\n    grace_hours: [1\n")
    assert len(found) == 1
    assert found[0].startswith("s.yaml:4: invalid YAML") or found[0].startswith("s.yaml:3: invalid YAML")


def test_all_schema_problems_are_reported_together_with_lines() -> None:
    text = """\
slas:
  - name: Sev-A
    grace_hours: 0
  - name: Sev-B
    grace_hours: four
agents:
  - username: jdoe
    first_name: J
    last_name: Doe
    email: not-an-email
    department: IT
    role: All Access
    colour: blue
api_keys:
  - ip: 10.0.0.0/24
"""
    found = problems(text)
    assert "s.yaml:3 slas[0].grace_hours: an SLA needs a grace period of 1 to 8760 hours, not 0" in found
    assert any(p.startswith("s.yaml:5 slas[1].grace_hours: Input should be a valid integer") for p in found)
    assert any(p.startswith("s.yaml:10 agents[0].email:") for p in found)
    assert "s.yaml:13 agents[0].colour: unknown field 'colour'" in found
    assert "s.yaml:15 api_keys[0].ip: '10.0.0.0/24' is not one IP address" in found
    assert len(found) == 5


def test_duplicates_are_reported_with_both_places() -> None:
    text = """\
agents:
  - {username: jdoe, first_name: J, last_name: D, email: a@example.com, department: IT, role: R}
  - {username: JDoe, first_name: J, last_name: D, email: b@example.com, department: IT, role: R}
teams:
  - name: T
    members: [jdoe, jdoe]
"""
    found = problems(text)
    assert "s.yaml:3 agents[1].username: duplicate username 'JDoe' (first at agents[0].username)" in found
    assert "s.yaml:6 teams[0].members[1]: duplicate member 'jdoe' (first at teams[0].members[0])" in found


def test_duplicate_yaml_keys_are_problems() -> None:
    found = problems("slas: []\nslas: []\n")
    assert found == ["s.yaml:2 slas: duplicate key 'slas'"]


def test_primary_department_is_not_extended_access() -> None:
    text = """\
agents:
  - username: jdoe
    first_name: J
    last_name: D
    email: a@example.com
    department: IT
    role: All Access
    access:
      - {department: IT, role: All Access}
"""
    assert problems(text) == [("s.yaml:9 agents[0].access[0].department: 'IT' is the agent's primary department "
                              "(extended access lists other departments)")]


def test_missing_field_points_at_the_item() -> None:
    found = problems("teams:\n  - lead: x\n")
    assert found == ["s.yaml:2 teams[0].name: required field is missing"]


def test_bcrypt_hash_is_y_variant_and_verifies() -> None:
    hashed = hash_password("s3cret-pass", rounds=4)
    assert hashed.startswith("$2y$04$")
    assert verify_password("s3cret-pass", hashed)
    assert not verify_password("other", hashed)
    # osTicket's own phpass hashes ($2a$08$) verify too; md5 hashes never do
    assert verify_password("s3cret-pass", "$2a$" + hashed[4:])
    assert not verify_password("x", "5f4dcc3b5aa765d61d8327deb882cf99")


def test_credentials_file_is_private(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.set_agent("john.doe", "pw1")
    store.set_api_key("127.0.0.1", "KEY")
    store.save()
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600
    again = CredentialStore(tmp_path / "credentials.json")
    assert again.agent("John.Doe") == "pw1"
    assert again.api_key("127.0.0.1") == "KEY"


def test_the_lab_tickets_start_on_default_sla_as_in_the_write_up() -> None:
    """seed-lab.md: "SLA Plan changed from Default SLA (18 hrs) to Sev-A (1 hr - Emergency)". Karen's and Ken's
    tickets use the topic Report a Problem, whose department's SLA is the one a new ticket gets."""
    seed = load_seed(REPO / "seed" / "helpdesk.yaml")
    topic = next(t for t in seed.help_topics if t.name == "Report a Problem")
    assert topic.sla is None
    department = next(d for d in seed.departments if d.name == topic.department)
    assert department.sla == "Default SLA"
    assert next(s for s in seed.slas if s.name == "Default SLA").grace_hours == 18


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes; Windows ACLs are tests/unit/test_private_files_windows.py's")
def test_a_credentials_file_others_can_read_is_refused_like_the_instance_file(tmp_path: Path) -> None:
    """Issue 19: credentials.json at 0644 was used silently while instance.json at 0644 was refused."""
    from automation.errors import ConfigError
    from automation.instance import Instance

    path = tmp_path / "credentials.json"
    path.write_text('{"agents": {"john.doe": "pw1"}, "api_keys": {}}\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        CredentialStore(path)
    assert str(caught.value) == (f"{path}: other users can read or change it (mode 0644) and it holds the seeded "
                                 f"agents' passwords and API keys; run `chmod 600 {path}`")
    assert caught.value.exit_code == 2
    instance = tmp_path / "instance.json"
    instance.write_text("{}")
    instance.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"run `chmod 600 {instance}`"):
        Instance.load(instance)
    path.chmod(0o600)
    assert CredentialStore(path).agent("john.doe") == "pw1"
