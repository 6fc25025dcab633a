"""Agent passwords and API keys: bcrypt hashes osTicket accepts, and the 0600 credentials file.

osTicket checks staff passwords with phpass (``Passwd::cmp`` → ``PasswordHash::CheckPassword`` → PHP
``crypt()``), which accepts ``$2y$`` bcrypt hashes; its own work factor is 8 (DEFAULT_WORK_FACTOR).
Python's bcrypt writes ``$2b$`` (the same algorithm): the prefix is rewritten to ``$2y$``.
Secrets are never printed or logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bcrypt

from automation.errors import ConfigError
from automation.instance import write_private

WORK_FACTOR = 8  # osTicket's own DEFAULT_WORK_FACTOR: its phpass hashes every password it writes with 8
CREDENTIALS_FILE = "credentials.json"


def hash_password(password: str, rounds: int = WORK_FACTOR) -> str:
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")
    return "$2y$" + hashed[4:] if hashed.startswith("$2b$") else hashed


def verify_password(password: str, hashed: str | None) -> bool:
    """True when ``hashed`` (a ``$2a$``/``$2b$``/``$2y$`` bcrypt hash) matches ``password``; False otherwise."""
    if not hashed or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    probe = "$2b$" + hashed[4:]
    try:
        return bcrypt.checkpw(password.encode("utf-8"), probe.encode("ascii"))
    except ValueError:
        return False




def credentials_path(instance_path: Path) -> Path:
    return Path(instance_path).parent / CREDENTIALS_FILE


class CredentialStore:
    """``{"agents": {username: password}, "api_keys": {ip: key}}`` in a 0600 file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.agents: dict[str, str] = {}
        self.api_keys: dict[str, str] = {}
        self.dirty = False
        if path is not None and path.exists():
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
        return _lookup(self.agents, username)

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


def _lookup(mapping: dict[str, str], key: str) -> str | None:
    if key in mapping:
        return mapping[key]
    folded = key.casefold()
    return next((v for k, v in mapping.items() if k.casefold() == folded), None)


def agent_password(instance_path: Path, username: str) -> str | None:
    """The password of a seeded agent: from the credentials file, else None (env passwords live in the env)."""
    return CredentialStore(credentials_path(instance_path)).agent(username)


def env_secret(name: str | None) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    return value if value else None
