"""What osTicket does on its own after a step, said where the step is told (console and write-up)."""

from __future__ import annotations

import re

REOPENED = "osTicket reopened the ticket"
_REACTION = re.compile(re.escape(REOPENED) + r" \([^)]*\)")


def reopened(before: tuple[str, str] | None, after: tuple[str, str] | None) -> str:
    """A requester's message to a resolved or closed ticket reopens it: ``Ticket::onMessage`` in
    include/class.ticket.php of osTicket 1.18.1 ("Reopen if closed AND reopenable"). ``before``/``after``: the
    ticket's (status name, state) around the step."""
    if before is None or after is None or before[1] != "closed" or after[1] != "open":
        return ""
    return f"{REOPENED} ({before[0]} -> {after[0]}: a requester's reply reopens a resolved ticket)"


def reaction_in(sentence: str) -> str:
    """The reaction a step's console line names, if any."""
    found = _REACTION.search(sentence)
    return found.group(0) if found else ""
