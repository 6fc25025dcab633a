"""One colour per ticket status and per SLA outcome, the same in the terminal table (rich styles) and in the
HTML charts and cells (hex), distinct within each set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Colour(NamedTuple):
    rich: str
    hex: str


STATUS = {
    "Open": Colour("yellow", "#d97706"),
    "Resolved": Colour("green", "#15803d"),
    "Closed": Colour("blue", "#2563eb"),
    "Archived": Colour("magenta", "#7c3aed"),
    "Deleted": Colour("bright_black", "#6b7280"),
    "incomplete": Colour("red", "#dc2626"),
}
SLA_OUTCOME = {
    "met": Colour("green", "#15803d"),
    "breached": Colour("red", "#dc2626"),
    "pending": Colour("yellow", "#d97706"),
    "no SLA": Colour("bright_black", "#6b7280"),
    "no due date": Colour("white", "#475569"),
    "incomplete": Colour("magenta", "#a21caf"),
    "unconfirmed": Colour("bright_yellow", "#a16207"),
}
# For statuses an admin added in osTicket: handed out in name order, none reused within one report.
SPARE = (Colour("cyan", "#0891b2"), Colour("bright_magenta", "#db2777"), Colour("bright_blue", "#4f46e5"),
         Colour("bright_green", "#65a30d"), Colour("bright_red", "#9f1239"), Colour("bright_cyan", "#0f766e"))


def colours(known: dict[str, Colour], names: Iterable[str]) -> dict[str, Colour]:
    """A colour for each of ``names``: the known one, else a spare one not used by another name here (after
    the spares run out, they repeat)."""
    wanted = sorted(set(names))
    chosen = {name: known[name] for name in wanted if name in known}
    spare = [c for c in SPARE if c not in chosen.values()] or list(SPARE)
    for i, name in enumerate(n for n in wanted if n not in known):
        chosen[name] = spare[i % len(spare)]
    return chosen
