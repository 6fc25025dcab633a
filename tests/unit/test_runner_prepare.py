"""Which staff logins a scenario run makes, and when: before anything is created, once per agent (osTicket's
own answer to a login is checked by tests/e2e/test_early_login_e2e.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from automation.errors import AuthError, ScenarioError
from automation.instance import DatabaseAccess, Instance, Login
from automation.scenarios import runner as runner_module
from automation.scenarios.loader import load_scenario
from automation.scenarios.runner import ScenarioRunner
from automation.workspace import Workspace

LAB = Path(__file__).resolve().parents[2] / "seed" / "scenarios" / "lab.yaml"


class FakeStaff:
    logins: list[str] = []
    refuse: set[str] = set()
    closed: list[str] = []

    def __init__(self, base_url: str, username: str, password: str, session: object = None) -> None:
        self.username = username

    def login(self) -> None:
        FakeStaff.logins.append(self.username)
        if self.username in FakeStaff.refuse:
            raise AuthError(f"agent {self.username!r} could not log in at http://x/scp/login.php: Access denied")

    def close(self) -> None:
        FakeStaff.closed.append(self.username)


class FakeApi:
    def __init__(self) -> None:
        self.created = 0

    def create_ticket(self, ticket: Any) -> str:
        self.created += 1
        raise AssertionError("no ticket may be created")

    def close(self) -> None:
        pass


@pytest.fixture
def fake_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[ScenarioRunner, FakeApi]:
    FakeStaff.logins, FakeStaff.refuse, FakeStaff.closed = [], set(), []
    monkeypatch.setattr(runner_module, "StaffSession", FakeStaff)
    monkeypatch.setattr(runner_module.Directory, "read", classmethod(lambda cls, conn, tables: object()))
    monkeypatch.setattr(runner_module, "check_names", lambda loaded, directory: None)
    monkeypatch.setattr(runner_module, "check_agents", lambda *args, **kwargs: None)
    monkeypatch.setattr(runner_module.runfield, "ensure", lambda conn, tables: False)
    monkeypatch.setenv("OSTOPS_PASSWORD_JOHN_DOE", "johns-password")
    monkeypatch.setenv("OSTOPS_PASSWORD_JANE_DOE", "janes-password")
    instance = Instance(kind="local", url="http://127.0.0.1:9", osticket_version="1.18.1", api_key=SecretStr("A" * 32),
                        admin=Login(username="admin", password=SecretStr("b")),
                        db=DatabaseAccess(host="127.0.0.1", name="osticket", user="osticket", password=SecretStr("c")))
    api = FakeApi()
    return ScenarioRunner(instance, Workspace(tmp_path / "instance.json"), conn=object(), api=api), api  # type: ignore[arg-type]


def test_prepare_logs_every_agent_in_once_and_the_run_reuses_the_sessions(
        fake_runner: tuple[ScenarioRunner, FakeApi]) -> None:
    runner, _ = fake_runner
    runner.prepare(load_scenario(LAB))
    assert FakeStaff.logins == ["john.doe", "jane.doe"]  # in the order they first act
    assert runner.staff("john.doe") is runner.staff("john.doe")
    runner.staff("jane.doe")
    assert FakeStaff.logins == ["john.doe", "jane.doe"]  # acting logs nobody in again


def test_a_refused_login_stops_the_run_before_the_first_ticket(fake_runner: tuple[ScenarioRunner, FakeApi]) -> None:
    runner, api = fake_runner
    FakeStaff.refuse = {"jane.doe"}
    loaded = load_scenario(LAB)
    jane = LAB.read_text().splitlines().index("      - as: jane.doe") + 1
    with pytest.raises(AuthError) as info:
        runner.run(loaded)
    assert str(info.value) == (f"{LAB}:{jane} tickets[0].steps[4].as: agent 'jane.doe' could not log in at "
                               "http://x/scp/login.php: Access denied; no ticket was created")
    assert info.value.exit_code == 1
    assert api.created == 0
    assert FakeStaff.closed == ["jane.doe", "john.doe"]  # nothing is left open


def test_an_agent_without_a_password_is_named_once(fake_runner: tuple[ScenarioRunner, FakeApi],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runner, _ = fake_runner
    monkeypatch.delenv("OSTOPS_PASSWORD_JOHN_DOE")
    monkeypatch.setattr(runner, "password", lambda username: None if username == "john.doe" else "x" * 8)
    with pytest.raises(ScenarioError) as info:
        runner.prepare(load_scenario(LAB))
    assert str(info.value) == f"{LAB}: 1 agent(s) without credentials; nothing was run"
    assert len(info.value.problems) == 1
    assert "no password for agent 'john.doe'" in info.value.problems[0]
    assert "also acts at" in info.value.problems[0]
    assert FakeStaff.logins == []
