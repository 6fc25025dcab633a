"""Seed input osTicket cannot store is bad input at load time (exit 2, file:line field), never a failed apply:
column lengths, strict booleans and numbers, osTicket's password policy, and a file with nothing to seed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from automation.errors import SeedError, SourceError
from automation.schemas import generate
from automation.seeding import load_seed
from automation.seeding.loader import parse_seed
from automation.seeding.models import TEXT_BYTES, Column, SeedFile

AGENT = "{username: jdoe, first_name: J, last_name: Doe, email: jdoe@example.com, department: IT, role: R"


def problems(text: str) -> list[str]:
    with pytest.raises(SeedError) as info:
        parse_seed(text, "s.yaml")
    assert info.value.exit_code == 2
    return info.value.problems


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# -- column lengths ------------------------------------------------------------------------------------------

def _columns(model: type[BaseModel], prefix: str = "") -> dict[str, Column]:
    """Every ``Column`` a model (and the models it nests) declares, by field path."""
    found: dict[str, Column] = {}

    def walk(annotation: Any, metadata: list[Any], path: str) -> None:
        for item in metadata:
            if isinstance(item, Column):
                found[path] = item
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_columns(annotation, path + "."))
            return
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *extra = get_args(annotation)
            walk(inner, extra, path)
        elif origin is not None:
            for arg in get_args(annotation):
                walk(arg, [], path)

    for name, info in model.model_fields.items():
        walk(info.annotation, list(info.metadata), prefix + name)
    return found


COLUMNS = _columns(SeedFile)


def test_every_field_that_osticket_stores_as_text_has_its_column() -> None:
    # A name, username, e-mail, phone, notes, IP address or organization that is written to a column.
    assert set(COLUMNS) == {
        "slas.name", "slas.notes", "departments.name", "agents.username", "agents.first_name",
        "agents.last_name", "agents.email", "teams.name", "teams.notes", "help_topics.name", "help_topics.notes",
        "api_keys.ip", "api_keys.notes", "users.name", "users.email", "users.phone", "users.organization"}


def _install_sql() -> str:
    from automation.local import source

    try:
        webroot = source.resolve(None, allow_download=False).webroot
    except SourceError as exc:
        pytest.skip(f"no osTicket source: {exc}")
    path = Path(webroot) / "setup" / "inc" / "streams" / "core" / "install-mysql.sql"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path.read_text(encoding="utf-8")


def test_column_sizes_are_osticket_s_own() -> None:
    sql = _install_sql()
    tables = {m.group(1): m.group(2) for m in re.finditer(r"CREATE TABLE `%TABLE_PREFIX%(\w+)` \((.*?)\n\)", sql, re.DOTALL)}
    for path, column in COLUMNS.items():
        table, name = column.column.split(".")
        definition = re.search(rf"^\s*`{name}` (\w+)(?:\((\d+)\))?", tables[table], re.MULTILINE | re.IGNORECASE)
        assert definition, f"{path}: no column {column.column} in install-mysql.sql"
        kind, size = definition.group(1).lower(), definition.group(2)
        if column.size is None:
            assert kind == "text", f"{path}: {column.column} is {kind}({size})"
        else:
            assert (kind, int(size)) == ("varchar", column.size), f"{path}: {column.column} is {kind}({size})"


def test_the_json_schema_carries_every_limit() -> None:
    schema = json.loads(generate("seed.schema.json"))
    plural = {"slas": "Sla", "departments": "Department", "agents": "Agent", "teams": "Team",
              "help_topics": "HelpTopic", "api_keys": "ApiKey", "users": "EndUser"}
    for path, column in COLUMNS.items():
        group, field = path.split(".")
        prop = schema["$defs"][plural[group]]["properties"][field]
        limits = [prop.get("maxLength")] + [branch.get("maxLength") for branch in prop.get("anyOf", [])]
        assert (column.size or TEXT_BYTES) in limits, (path, prop)


def test_seventy_thousand_characters_of_sla_notes_name_the_file_line_and_field() -> None:
    text = "slas:\n  - name: Sev-A\n    grace_hours: 1\n    notes: " + "x" * 70_000 + "\n"
    problem = one_problem(text)
    assert problem.startswith("s.yaml:4 slas[0].notes: 70,000 bytes")
    assert "sla.notes (TEXT), at most 65,535 bytes" in problem
    assert "x" * 100 not in problem  # the value itself is not echoed back


@pytest.mark.parametrize(("text", "where", "column", "size"), [
    ("slas:\n  - {name: 'V', grace_hours: 1}\n", "s.yaml:2 slas[0].name", "sla.name", 64),
    ("departments:\n  - name: 'V'\n", "s.yaml:2 departments[0].name", "department.name", 128),
    ("teams:\n  - name: 'V'\n", "s.yaml:2 teams[0].name", "team.name", 125),
    ("help_topics:\n  - name: 'V'\n", "s.yaml:2 help_topics[0].name", "help_topic.topic", 128),
    ("users:\n  - {name: 'V', email: u@example.com}\n", "s.yaml:2 users[0].name", "user.name", 128),
    ("users:\n  - {name: U, email: u@example.com, organization: 'V'}\n", "s.yaml:2 users[0].organization",
     "organization.name", 128),
    ("agents:\n  - " + AGENT.replace("last_name: Doe", "last_name: 'V'") + "}\n", "s.yaml:2 agents[0].last_name",
     "staff.lastname", 32),
    ("agents:\n  - " + AGENT.replace("first_name: J", "first_name: 'V'") + "}\n", "s.yaml:2 agents[0].first_name",
     "staff.firstname", 32),
])
def test_a_name_one_character_too_long_is_rejected(text: str, where: str, column: str, size: int) -> None:
    parse_seed(text.replace("V", "Ä" * size), "s.yaml")  # VARCHAR(n) counts characters, not bytes
    problem = one_problem(text.replace("V", "Ä" * (size + 1)))
    assert problem == (f"{where}: {size + 1:,} characters is too long: osTicket stores it in {column} "
                       f"(VARCHAR({size})), at most {size} characters; shorten it")


def test_long_username_email_and_ip_are_rejected() -> None:
    long_user = "a" * 33
    assert one_problem("agents:\n  - " + AGENT.replace("jdoe,", f"{long_user},") + "}\n").startswith(
        "s.yaml:2 agents[0].username: 33 characters is too long: osTicket stores it in staff.username (VARCHAR(32))")
    email = "u@" + "e" * 250 + ".com"
    assert one_problem(f"users:\n  - {{name: U, email: {email}}}\n").startswith(
        "s.yaml:2 users[0].email: 256 characters is too long: osTicket stores it in user_email.address (VARCHAR(255))")
    scoped = "fe80::1%" + "e" * 60
    assert one_problem(f"api_keys:\n  - ip: '{scoped}'\n").startswith(
        "s.yaml:2 api_keys[0].ip: 68 characters is too long: osTicket stores it in api_key.ipaddr (VARCHAR(64))")


def test_text_columns_count_utf8_bytes() -> None:
    def notes(value: str) -> str:
        return f"teams:\n  - name: T\n    notes: '{value}'\n"

    assert parse_seed(notes("x" * TEXT_BYTES), "s.yaml").teams[0].notes == "x" * TEXT_BYTES
    assert parse_seed(notes("€" * (TEXT_BYTES // 3)), "s.yaml").teams[0].notes  # 3 bytes each: 65,535 bytes
    problem = one_problem(notes("€" * (TEXT_BYTES // 3 + 1)))
    assert problem.startswith("s.yaml:3 teams[0].notes: 65,538 bytes (UTF-8, 21,846 characters) is too long")
    assert one_problem(notes("😀" * 16_383)).startswith("s.yaml:3 teams[0].notes: '😀' (U+1F600) cannot be stored")
    api = "api_keys:\n  - ip: 10.0.0.1\n    notes: " + "n" * (TEXT_BYTES + 1) + "\n"
    assert one_problem(api).startswith("s.yaml:3 api_keys[0].notes: 65,536 bytes")
    topic = "help_topics:\n  - name: Topic\n    notes: " + "n" * (TEXT_BYTES + 1) + "\n"
    assert one_problem(topic).startswith("s.yaml:3 help_topics[0].notes: 65,536 bytes")


@pytest.mark.parametrize(("text", "where"), [
    ("slas:\n  - {name: Sev 🔥, grace_hours: 1}\n", "s.yaml:2 slas[0].name"),
    ("teams:\n  - name: T\n    notes: Party 🎉 time\n", "s.yaml:3 teams[0].notes"),
    ("users:\n  - {name: Ann 😀, email: ann@example.com}\n", "s.yaml:2 users[0].name"),
])
def test_characters_osticket_s_utf8mb3_tables_cannot_store_are_rejected(text: str, where: str) -> None:
    # osTicket creates its tables with DEFAULT CHARSET=utf8 (3 bytes at most): MariaDB refuses these on insert
    # ("Incorrect string value") and the whole seed would fail at apply with exit 1.
    problem = one_problem(text)
    assert problem.startswith(f"{where}: ")
    assert "cannot be stored: osTicket's tables use MySQL's 3-byte utf8 (utf8mb3" in problem


def test_accented_and_other_bmp_characters_are_fine() -> None:
    seed = parse_seed("users:\n  - {name: Zoë Ångström 李雷, email: zoe@example.com, organization: Société Générale}\n",
                      "s.yaml")
    assert seed.users[0].name == "Zoë Ångström 李雷"


def test_too_long_input_is_a_usage_error_from_the_cli(tmp_path: Path) -> None:
    """Before the instance is even read: exit 2, file:line and field, nothing written."""
    path = tmp_path / "big.yaml"
    path.write_text("slas:\n  - name: Big\n    grace_hours: 4\n    notes: " + "n" * 70_000 + "\n")
    ostops = str(Path(sys.executable).parent / "ostops")
    result = subprocess.run([ostops, "seed", str(path), "--plan", "--instance", str(tmp_path / "none.json")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:4 slas[0].notes: 70,000 bytes" in result.stderr


# -- strict booleans and numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["true", "false", "'24'", "1.5", "yes"])
def test_grace_hours_is_a_number_not_a_bool_or_a_string(value: str) -> None:
    problem = one_problem(f"slas:\n  - name: S\n    grace_hours: {value}\n")
    assert problem.startswith("s.yaml:3 slas[0].grace_hours: ")
    if value in ("true", "yes"):
        assert problem.endswith("whole number of hours (1 to 8760), not true")


def test_grace_hours_accepts_whole_numbers_written_as_floats() -> None:
    seed = parse_seed("slas:\n  - {name: S, grace_hours: 24}\n  - {name: T, grace_hours: 48.0}\n", "s.yaml")
    assert [(s.grace_hours, type(s.grace_hours)) for s in seed.slas] == [(24, int), (48, int)]


@pytest.mark.parametrize(("text", "where"), [
    ("slas:\n  - {name: S, grace_hours: 1, active: 1}\n", "s.yaml:2 slas[0].active"),
    ("departments:\n  - {name: D, public: 'true'}\n", "s.yaml:2 departments[0].public"),
    ("teams:\n  - {name: T, enabled: 0}\n", "s.yaml:2 teams[0].enabled"),
    ("api_keys:\n  - {ip: 10.0.0.1, can_exec_cron: 'no'}\n", "s.yaml:2 api_keys[0].can_exec_cron"),
    ("agents:\n  - " + AGENT + ", access: [{department: X, role: R, alerts: 1}]}\n",
     "s.yaml:2 agents[0].access[0].alerts"),
    ("agents:\n  - " + AGENT + ", admin: 'on'}\n", "s.yaml:2 agents[0].admin"),
    ("settings:\n  verify_email_addrs: 0\n", "s.yaml:2 settings.verify_email_addrs"),
])
def test_booleans_are_strict(text: str, where: str) -> None:
    assert one_problem(text).startswith(f"{where}: Input should be a valid boolean")


def test_yaml_booleans_still_work() -> None:
    seed = parse_seed("slas:\n  - {name: S, grace_hours: 1, active: yes, escalate: false}\n", "s.yaml")
    assert (seed.slas[0].active, seed.slas[0].escalate) == (True, False)


def test_version_true_is_not_version_1() -> None:
    assert one_problem("version: true\nslas:\n  - {name: S, grace_hours: 1}\n").startswith("s.yaml:1 version: ")
    assert parse_seed("version: 1\nslas:\n  - {name: S, grace_hours: 1}\n", "s.yaml").version == 1


# -- agent passwords -----------------------------------------------------------------------------------------

def _agent_with_env(name: str = "JDOE_PW") -> str:
    return "agents:\n  - " + AGENT + f", password_env: {name}}}\n"


@pytest.mark.parametrize(("password", "size", "advice"), [("x", "1 byte", "longer"), ("12345", "5 bytes", "longer"),
                                                          ("p" * 129, "129 bytes", "shorter")])
def test_an_agent_password_outside_osticket_s_policy_is_rejected(monkeypatch: pytest.MonkeyPatch, password: str,
                                                                 size: str, advice: str) -> None:
    monkeypatch.setenv("JDOE_PW", password)
    problem = one_problem(_agent_with_env())
    assert problem == (f"s.yaml:2 agents[0].password_env: the password in $JDOE_PW is {size} long; osTicket's "
                       f"password policy needs 6 to 128 bytes: set a {advice} one")
    assert password not in problem.split("$JDOE_PW")[1]


def test_password_length_counts_bytes_like_osticket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JDOE_PW", "äöü")  # 3 characters, 6 bytes: PHP's strlen() says 6
    assert parse_seed(_agent_with_env(), "s.yaml").agents[0].password_env == "JDOE_PW"
    monkeypatch.setenv("JDOE_PW", "123456")
    parse_seed(_agent_with_env(), "s.yaml")


def test_an_unset_or_empty_password_variable_falls_back_to_the_credentials_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JDOE_PW", raising=False)
    parse_seed(_agent_with_env(), "s.yaml")
    monkeypatch.setenv("JDOE_PW", "")
    parse_seed(_agent_with_env(), "s.yaml")


# -- nothing to seed -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "version: 1\n", "slas: []\nagents: []\n",
                                  "settings: {}\n", "settings:\n  default_sla: null\nusers: []\n"])
def test_a_file_with_nothing_to_seed_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(SeedError) as info:
        load_seed(path)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{path}: nothing to seed")


def test_one_setting_is_something_to_seed() -> None:
    assert not parse_seed("settings:\n  verify_email_addrs: false\n", "s.yaml").is_empty()


def test_empty_file_from_the_cli_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    ostops = str(Path(sys.executable).parent / "ostops")
    result = subprocess.run([ostops, "seed", str(path), "--instance", str(tmp_path / "none.json")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}: nothing to seed" in result.stderr
    assert "applied" not in result.stdout

