"""The words every bad-input message shares: did-you-mean for unknown names, counts of problems, and problems
in the order of their lines."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_LINE = re.compile(r"^[^\n]*?:(\d+)(?=[ :])")


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """`` (did you mean 'jane.doe'?)`` when a known name is close to ``value`` (case aside), else ``""``."""
    names = {name.casefold(): name for name in known}
    close = difflib.get_close_matches(value.casefold(), list(names), n=1, cutoff=0.6)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


def count(n: int, what: str = "problem") -> str:
    """``1 problem``, ``3 problems``: the one wording for counts."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def by_line(problems: Iterable[str]) -> list[str]:
    """``file:line …`` problems sorted by line (stable; problems without a line keep their place first)."""
    def line(problem: str) -> int:
        match = _LINE.match(problem)
        return int(match.group(1)) if match else 0

    return sorted(problems, key=line)
