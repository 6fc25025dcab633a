"""osTicket versions and the security floor, for every side that checks them (local source, Azure config,
policies): one parser, one floor."""

from __future__ import annotations

import re

SECURITY_FLOOR = (1, 18, 3)
SECURITY_FLOOR_TEXT = "1.18.3"
SECURITY_NOTE = "1.18.3 fixes CVE-2026-22200"


def parse_version(text: str) -> tuple[int, ...] | None:
    """The first dotted number in ``text``: ``"v1.18.3"`` and ``"osTicket-v1.18.1.zip"`` give ``(1, 18, 3)``
    and ``(1, 18, 1)``; a missing patch number is 0; ``None`` when there is none."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups(default="0"))


def below_security_floor(version: str) -> bool:
    parsed = parse_version(version)
    return parsed is not None and parsed < SECURITY_FLOOR
