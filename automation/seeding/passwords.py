"""Agent passwords: bcrypt hashes osTicket accepts (the passwords themselves live in ``automation.credentials``).

osTicket checks staff passwords with phpass (``Passwd::cmp`` → ``PasswordHash::CheckPassword`` → PHP
``crypt()``), which accepts ``$2y$`` bcrypt hashes; its own work factor is 8 (DEFAULT_WORK_FACTOR).
Python's bcrypt writes ``$2b$`` (the same algorithm): the prefix is rewritten to ``$2y$``.
Secrets are never printed or logged.
"""

from __future__ import annotations

import os

import bcrypt

WORK_FACTOR = 8  # osTicket's own DEFAULT_WORK_FACTOR: its phpass hashes every password it writes with 8


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




def env_secret(name: str | None) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    return value if value else None
