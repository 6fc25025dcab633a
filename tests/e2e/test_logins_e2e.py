"""`ostops local logins`: the card a learner needs after the lab, and every line of it works on the real osTicket:
the admin's and each agent's password log in to the staff panel, and a requester's e-mail with her ticket number
opens her ticket in the Support Center as the card says."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import requests

from tests.helpers.osticket import OSTOPS, REPO, ostops, staff_login

LAB = REPO / "seed" / "scenarios" / "lab.yaml"


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.e2e
def test_the_login_card_masks_by_default_and_every_login_on_it_works(osticket: Any) -> None:
    ran = ostops(osticket, "run", str(LAB), "--seed")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    base = osticket.instance.base_url

    masked = ostops(osticket, "local", "logins")
    assert masked.returncode == 0, masked.stderr
    assert f"staff panel {base}scp/" in words(masked.stdout)
    credentials = json.loads((osticket.base / "credentials.json").read_text())["agents"]
    assert {"john.doe", "jane.doe"} <= set(credentials)
    for username in ("john.doe", "jane.doe"):  # other tests of the session may have seeded more, inactive ones
        assert username in masked.stdout
    for password in credentials.values():
        assert password not in masked.stdout
    assert osticket.instance.admin.password.get_secret_value() not in masked.stdout
    assert "--show-secrets" in masked.stdout

    shown = ostops(osticket, "local", "logins", "--show-secrets")
    assert shown.returncode == 0, shown.stderr
    for username in ("john.doe", "jane.doe"):
        assert credentials[username] in shown.stdout
        staff_login(base, username, credentials[username])  # asserts the 302 to the staff panel
    admin = osticket.instance.admin
    assert admin.password.get_secret_value() in shown.stdout
    staff_login(base, admin.username, admin.password.get_secret_value())

    # The requesters' side: Karen's ticket of this run, opened in the Support Center with her e-mail and number.
    rows = re.findall(r"(\d{6})\s*│\s*([^│]+?)\s*│\s*(\S+@\S+)", shown.stdout)
    assert rows, shown.stdout
    karen = next((r for r in rows if "Karen" in r[1]), None)
    assert karen is not None, rows
    number, _, email = karen
    guest = requests.Session()
    page = guest.get(base + "login.php", timeout=30)
    token = re.search(r'name="__CSRFToken__"\s+value="([^"]+)"', page.text)
    assert token
    answer = guest.post(base + "login.php", data={"__CSRFToken__": token.group(1), "lemail": email,
                                                  "lticket": number}, timeout=30)
    assert answer.status_code == 200
    assert "tickets.php" in answer.url
    assert number in answer.text


@pytest.mark.e2e
def test_the_login_card_needs_the_database_and_says_so_when_it_is_missing(osticket: Any, tmp_path) -> None:
    broken = json.loads(osticket.instance_path.read_text())
    broken["db"]["port"] = 1  # nothing listens there
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(broken))
    path.chmod(0o600)
    result = subprocess.run([OSTOPS, "local", "logins", "--instance", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 4
    assert "cannot connect to osTicket's database" in words(result.stderr)
    assert "Traceback" not in result.stderr
