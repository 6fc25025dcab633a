"""`ostops rotate` on a real osTicket: after each rotation the old secret is refused where osTicket (or MariaDB)
checks it, the new one works there, the runs recorded before it still verify, and a scenario that needs every
secret (the API key, the admin's and the agents' logins, the database) runs. A rotation whose file cannot be
written is undone: the old secret still works and no file changed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import requests

from automation.instance import Instance
from automation.osticket.db import connect
from tests.conftest import LocalOsTicket, bring_up
from tests.helpers.osticket import OSTOPS, REPO, ostops, staff_login

pytestmark = pytest.mark.e2e

SCENARIO = REPO / "tests" / "e2e" / "data" / "rotation.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")
LOGIN_MESSAGE = re.compile(r'<h3 id="login-message">(.*?)</h3>', re.DOTALL)


@pytest.fixture(scope="module")
def osticket() -> Iterator[LocalOsTicket]:
    """An instance of its own: its secrets change under every other test of this module."""
    yield from bring_up("ostops-e2e-rotate-")


@pytest.fixture(scope="module", autouse=True)
def seeded(osticket: LocalOsTicket) -> None:
    result = ostops(osticket, "seed", str(REPO / "seed" / "helpdesk.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


# -- helpers -------------------------------------------------------------------------------------------------
def current(osticket: LocalOsTicket) -> Instance:
    """The instance as its file says now (the fixture's copy keeps the secrets it started with)."""
    return Instance.load(osticket.instance_path)


def query(osticket: LocalOsTicket, sql: str, args: Any = None) -> list[dict[str, Any]]:
    conn = connect(current(osticket))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def credentials(osticket: LocalOsTicket) -> dict[str, Any]:
    return dict(json.loads((osticket.base / "credentials.json").read_text(encoding="utf-8")))


def config_file(osticket: LocalOsTicket) -> Path:
    return osticket.base / "www" / "include" / "ost-config.php"


def rotate(osticket: LocalOsTicket, *args: str) -> subprocess.CompletedProcess[str]:
    """``ostops rotate ARGS`` with standard input that is not a terminal."""
    return subprocess.run([OSTOPS, "rotate", *args, "--instance", str(osticket.instance_path)],
                          capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
                          stdin=subprocess.DEVNULL)


def run_scenario(osticket: LocalOsTicket) -> str:
    result = ostops(osticket, "run", str(SCENARIO))
    assert result.returncode == 0, result.stdout + result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


def prove_every_command_still_works(osticket: LocalOsTicket, earlier: list[str],
                                    rotated: subprocess.CompletedProcess[str] | None = None) -> None:
    """The runs recorded before the rotation verify (the rotation said so itself, and `ostops verify` agrees),
    and a new run of the scenario (API key: the ticket and the requester's e-mail; the admin's and the agents'
    passwords: their steps; the database: verification)."""
    if rotated is not None:
        assert re.search(r"\d+ run\(s\) re-verified, all pass", rotated.stdout), rotated.stdout
    for run_id in earlier:
        result = ostops(osticket, "verify", str(SCENARIO), "--run", run_id)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"run {run_id}: every expectation holds" in result.stdout
    run_scenario(osticket)


def login_refused(base: str, username: str, password: str) -> str:
    """osTicket's answer to a staff login that must fail: its login page again, with its message."""
    session = requests.Session()
    page = session.get(base + "scp/login.php", timeout=30)
    token = re.search(r'name="__CSRFToken__"\s+value="([^"]+)"', page.text)
    assert token
    answer = session.post(base + "scp/login.php", data={"__CSRFToken__": token.group(1), "userid": username,
                                                        "passwd": password, "do": "scplogin"},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 200, f"{username}: a refused login answered {answer.status_code}"
    message = LOGIN_MESSAGE.search(answer.text)
    assert message
    return message.group(1).strip()


def api_ticket(instance: Instance, key: str) -> requests.Response:
    return requests.post(instance.base_url + "api/tickets.json", headers={"X-API-Key": key}, timeout=30,
                         json={"name": "Zoë O'Brien-Müller", "email": "zoe.obrien@example.com",
                               "subject": 'Rotation check: "key" & café', "message": "Is the API key still good?"})


def mariadb_refuses(instance: Instance, password: str) -> bool:
    """Access denied (1045) or let in; another failure (a handshake timing out under load) is tried again."""
    codes = []
    for _ in range(3):
        try:
            tls = {"ca": instance.db.ssl_ca} if instance.db.ssl else None  # the multi-node twin requires TLS
            pymysql.connect(host=instance.db.host, port=instance.db.port, user=instance.db.user, password=password,
                            database=instance.db.name, connect_timeout=10, read_timeout=10, ssl=tls).close()
        except pymysql.err.OperationalError as exc:
            codes.append(exc.args[0])
            if codes[-1] == 1045:  # ER_ACCESS_DENIED_ERROR
                return True
            continue
        return False
    raise AssertionError(f"MariaDB neither refused nor accepted the login: errors {codes}")


def assert_no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` cannot be replaced while inside: immutable (chattr +i) for root, whom modes do not stop; a
    read-only folder for anyone else."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, timeout=30, check=False)
        assert made.returncode == 0, f"chattr +i {path}: {made.stderr} (the test needs a file root cannot replace)"
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, timeout=30, check=True)
    else:
        mode = path.parent.stat().st_mode
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(stat.S_IMODE(mode))


def snapshot(osticket: LocalOsTicket) -> dict[str, bytes]:
    files = [osticket.instance_path, osticket.base / "credentials.json", config_file(osticket)]
    return {str(path): path.read_bytes() for path in files}


# -- the rotations -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["api-key", "agent-passwords", "admin-password", "db-password"])
def test_without_a_terminal_a_rotation_needs_yes(osticket: LocalOsTicket, kind: str) -> None:
    before = snapshot(osticket)
    result = rotate(osticket, kind)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "confirm with --yes; nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(osticket) == before


def test_api_key_the_old_one_refused_the_new_one_works(osticket: LocalOsTicket) -> None:
    earlier = [run_scenario(osticket)]
    old = current(osticket).api_key.get_secret_value()
    result = rotate(osticket, "api-key", "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert (document["command"], document["ok"]) == ("rotate api-key", True)
    assert document["files"] == [str(osticket.instance_path)] and "secrets" not in document
    assert earlier[0] in {run["run_id"] for run in document["reverified"]}
    assert all(run["passed"] for run in document["reverified"]), document["reverified"]
    instance = current(osticket)
    new = instance.api_key.get_secret_value()
    assert new != old and re.fullmatch(r"[0-9A-F]{32}", new)  # osTicket's own shape: strtoupper(md5(...))
    assert_no_secret(result, old, new)
    assert stat.S_IMODE(osticket.instance_path.stat().st_mode) == 0o600
    refused = api_ticket(instance, old)
    assert (refused.status_code, refused.text.strip()) == (401, "Valid API key required")
    accepted = api_ticket(instance, new)
    assert accepted.status_code == 201, accepted.text
    rows = query(osticket, "SELECT apikey, ipaddr, isactive FROM ost_api_key")
    assert rows == [{"apikey": new, "ipaddr": "127.0.0.1", "isactive": 1}]
    prove_every_command_still_works(osticket, earlier)


def test_agent_passwords_one_agent_then_every_seeded_agent(osticket: LocalOsTicket) -> None:
    earlier = [run_scenario(osticket)]
    base = current(osticket).base_url
    old = credentials(osticket)["agents"]
    johns_browser = staff_login(base, "john.doe", old["john.doe"])
    # as a browser does after the login's redirect (osTicket ties the session to the agent from then on)
    assert johns_browser.get(base + "scp/index.php", allow_redirects=False, timeout=30).status_code == 200

    one = rotate(osticket, "agent-passwords", "--agent", "john.doe", "--yes")
    assert one.returncode == 0, one.stdout + one.stderr
    after_one = credentials(osticket)["agents"]
    assert after_one["jane.doe"] == old["jane.doe"] and after_one["john.doe"] != old["john.doe"]
    assert login_refused(base, "john.doe", old["john.doe"]) == "Access denied"
    staff_login(base, "john.doe", after_one["john.doe"])
    # as when osTicket changes a password (Staff::setPassword → auth.clean): the agent's open sessions end
    logged_out = johns_browser.get(base + "scp/index.php", allow_redirects=False, timeout=30)
    assert logged_out.status_code == 302 and "login.php" in logged_out.headers["Location"]

    every = rotate(osticket, "agent-passwords", "--yes")
    assert every.returncode == 0, every.stdout + every.stderr
    now = credentials(osticket)["agents"]
    assert set(now) == {"john.doe", "jane.doe"}
    assert all(now[name] != after_one[name] for name in now)
    assert_no_secret(every, *old.values(), *after_one.values(), *now.values())
    assert stat.S_IMODE((osticket.base / "credentials.json").stat().st_mode) == 0o600
    for name in now:
        assert login_refused(base, name, after_one[name]) == "Access denied"
        staff_login(base, name, now[name])
    hashes = query(osticket, "SELECT passwd, change_passwd FROM ost_staff WHERE username IN ('john.doe', 'jane.doe')")
    # bcrypt at osTicket's own work factor (class.passwd.php DEFAULT_WORK_FACTOR 8), no forced change at login
    assert all(row["passwd"].startswith("$2y$08$") and row["change_passwd"] == 0 for row in hashes)
    prove_every_command_still_works(osticket, earlier, every)


def test_an_unknown_agent_or_the_admin_is_refused_before_anything_changes(osticket: LocalOsTicket) -> None:
    before = snapshot(osticket)
    unknown = rotate(osticket, "agent-passwords", "--agent", "nobody", "--yes")
    assert unknown.returncode == 2 and "--agent nobody: not an agent whose password ostops keeps" in unknown.stderr
    admin = rotate(osticket, "agent-passwords", "--agent", "ostadmin", "--yes")
    assert admin.returncode == 2 and "ostops rotate admin-password" in admin.stderr
    assert snapshot(osticket) == before


def test_admin_password_the_old_one_refused_the_new_one_works(osticket: LocalOsTicket) -> None:
    earlier = [run_scenario(osticket)]
    old = current(osticket).admin.password.get_secret_value()
    result = rotate(osticket, "admin-password", "--yes", "--show-secrets")
    assert result.returncode == 0, result.stdout + result.stderr
    instance = current(osticket)
    new = instance.admin.password.get_secret_value()
    assert new != old and old not in result.stdout + result.stderr
    assert f"new ostadmin: {new}" in result.stdout  # --show-secrets: and only then
    assert login_refused(instance.base_url, "ostadmin", old) == "Access denied"
    staff_login(instance.base_url, "ostadmin", new)
    prove_every_command_still_works(osticket, earlier, result)  # the scenario's first step is the admin's


def test_db_password_the_old_one_refused_by_mariadb_and_osticket_still_answers(osticket: LocalOsTicket) -> None:
    earlier = [run_scenario(osticket)]
    config = config_file(osticket)
    mode, owner = stat.S_IMODE(config.stat().st_mode), (config.stat().st_uid, config.stat().st_gid)
    old = current(osticket).db.password.get_secret_value()
    result = rotate(osticket, "db-password", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    instance = current(osticket)
    new = instance.db.password.get_secret_value()
    assert new != old
    assert_no_secret(result, old, new)
    assert mariadb_refuses(instance, old)
    assert not mariadb_refuses(instance, new)
    text = config.read_text(encoding="utf-8")
    assert f"define('DBPASS','{new}');" in text and old not in text
    assert (stat.S_IMODE(config.stat().st_mode), (config.stat().st_uid, config.stat().st_gid)) == (mode, owner)
    # osTicket answers from its database with the new password (its opcache kept the old ost-config.php
    # until php-fpm was reloaded)
    created = api_ticket(instance, instance.api_key.get_secret_value())
    assert created.status_code == 201, created.text
    prove_every_command_still_works(osticket, earlier, result)


def test_db_password_rolled_back_when_ost_config_cannot_be_written(osticket: LocalOsTicket) -> None:
    earlier = [run_scenario(osticket)]
    config = config_file(osticket)
    before = snapshot(osticket)
    old = current(osticket).db.password.get_secret_value()
    with unwritable(config):
        result = rotate(osticket, "db-password", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot write {config}" in result.stderr
    assert "every step was rolled back" in result.stderr
    assert "rolled back: the MariaDB password of osticket@" in result.stderr
    assert snapshot(osticket) == before
    instance = current(osticket)
    assert not mariadb_refuses(instance, old)  # MariaDB has the old password again
    created = api_ticket(instance, instance.api_key.get_secret_value())
    assert created.status_code == 201, created.text
    prove_every_command_still_works(osticket, earlier)


def test_api_key_rolled_back_when_the_instance_file_cannot_be_written(osticket: LocalOsTicket) -> None:
    before = snapshot(osticket)
    instance = current(osticket)
    key = instance.api_key.get_secret_value()
    with unwritable(osticket.instance_path):
        result = rotate(osticket, "api-key", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot write {osticket.instance_path}" in result.stderr
    assert "rolled back: API key" in result.stderr
    assert snapshot(osticket) == before
    assert query(osticket, "SELECT apikey FROM ost_api_key") == [{"apikey": key}]
    assert api_ticket(instance, key).status_code == 201


def test_agent_passwords_rolled_back_when_credentials_cannot_be_written(osticket: LocalOsTicket) -> None:
    before = snapshot(osticket)
    passwords = credentials(osticket)["agents"]
    with unwritable(osticket.base / "credentials.json"):
        result = rotate(osticket, "agent-passwords", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rolled back: the old password hashes" in result.stderr
    assert snapshot(osticket) == before
    base = current(osticket).base_url
    for name, password in passwords.items():
        staff_login(base, name, password)


@pytest.fixture(scope="module")
def twin() -> Iterator[LocalOsTicket]:
    """Two web nodes behind HAProxy, each its own php-fpm over the one ost-config.php, MariaDB over TLS."""
    yield from bring_up("ostops-e2e-rotate-twin-", web_nodes=2)


def test_db_password_on_two_web_nodes_every_php_fpm_takes_the_new_one(twin: LocalOsTicket) -> None:
    old = current(twin).db.password.get_secret_value()
    result = rotate(twin, "db-password", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "php-fpm reloaded (2)" in result.stderr
    instance = current(twin)
    assert instance.db.ssl
    assert mariadb_refuses(instance, old)
    assert not mariadb_refuses(instance, instance.db.password.get_secret_value())
    # HAProxy spreads the requests over both nodes: each php-fpm must reach the database with the new password
    answers = [api_ticket(instance, instance.api_key.get_secret_value()).status_code for _ in range(6)]
    assert answers == [201] * 6
    status = ostops(twin, "local", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["ok"] is True
