"""New secrets: passwords and osTicket-style API keys (one place, so every generated secret is alike)."""

from __future__ import annotations

import secrets


def new_password() -> str:
    """24 URL-safe characters (144 bits): passes osTicket's password policy, needs no quoting anywhere."""
    return secrets.token_urlsafe(18)


def new_api_key() -> str:
    """Like osTicket's own keys: 32 upper-case hex characters."""
    return secrets.token_hex(16).upper()
