"""``credentials.json`` (mode 0600, in the instance's folder): the passwords of seeded agents and the API keys
ostops generated, and the one way to find an agent's password."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from automation.errors import ConfigError
from automation.files import private_file_fix, private_file_problem, write_private
from automation.instance import Instance


def password_variable(username: str) -> str:
    """The environment variable that holds an agent's password: ``OSTOPS_PASSWORD_<USERNAME>``, every character
    other than A-Z and 0-9 made ``_`` (``john.doe`` → ``OSTOPS_PASSWORD_JOHN_DOE``)."""
    return "OSTOPS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", username.upper())


class CredentialStore:
    """``{"agents": {username: password}, "api_keys": {ip: key}}`` in a 0600 file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.agents: dict[str, str] = {}
        self.api_keys: dict[str, str] = {}
        self.dirty = False
        if path is not None and path.exists():
            problem = private_file_problem(path)
            if problem:
                # As the instance file (`Instance.load`) and ssh's private keys: the file holds passwords.
                raise ConfigError(f"{path}: {problem} and it holds the seeded agents' passwords and API keys; run "
                                  f"`{private_file_fix(path)}`")
            try:
                data: Any = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: unreadable credentials file: {exc}") from exc
            if not isinstance(data, dict) or not all(isinstance(data.get(k) or {}, dict) for k in ("agents", "api_keys")):
                raise ConfigError(f"{path}: not an ostops credentials file (expected {{\"agents\": {{...}}, "
                                  "\"api_keys\": {...}}); move it away and seed again")
            self.agents = {str(k): str(v) for k, v in (data.get("agents") or {}).items()}
            self.api_keys = {str(k): str(v) for k, v in (data.get("api_keys") or {}).items()}

    def agent(self, username: str) -> str | None:
        if username in self.agents:
            return self.agents[username]
        folded = username.casefold()  # osTicket's collation: user names compare case-insensitively
        return next((v for k, v in self.agents.items() if k.casefold() == folded), None)

    def api_key(self, ip: str) -> str | None:
        return self.api_keys.get(ip)

    def set_agent(self, username: str, password: str) -> None:
        if self.agent(username) != password:
            self.agents = {k: v for k, v in self.agents.items() if k.casefold() != username.casefold()}
            self.agents[username] = password
            self.dirty = True

    def set_api_key(self, ip: str, key: str) -> None:
        if self.api_keys.get(ip) != key:
            self.api_keys[ip] = key
            self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        write_private(self.path, json.dumps({"agents": self.agents, "api_keys": self.api_keys}, indent=2) + "\n")
        self.dirty = False


def agent_password(instance: Instance, store: CredentialStore, username: str,
                   env_names: dict[str, str] | None = None) -> str | None:
    """An agent's password: the variable the seed names for it (``password_env``), then
    ``OSTOPS_PASSWORD_<USERNAME>``, then the instance's admin, then the credentials file the seeding wrote."""
    for name in ((env_names or {}).get(username), password_variable(username)):
        if name and os.environ.get(name):
            return os.environ[name]
    if username == instance.admin.username:
        return instance.admin.password.get_secret_value()
    return store.agent(username)
