"""A run's collaborators and attached files, as osTicket 1.18 keeps them: two batched queries, whatever the
number of tickets.

- ``thread_collaborator`` (thread_id, user_id, ``flags``: 0x1 active, 0x2 CC; include/class.collaborator.php),
  each user's e-mail from ``user_email`` (the user's default address).
- ``attachment`` rows of ``type`` 'H' hang on a thread entry (``object_id`` = thread_entry.id) and name a
  ``file``; ``inline`` ones are images inside an HTML body, not attachments a reader sees listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automation.osticket.schema import Tables

COLLAB_ACTIVE = 0x1


@dataclass(frozen=True)
class Collaborator:
    email: str
    name: str
    active: bool


@dataclass(frozen=True)
class Attached:
    entry_id: int
    name: str
    size: int
    mime: str


def read(cur: Any, t: Tables, thread_ids: Sequence[int]) -> tuple[dict[int, list[Collaborator]],
                                                                  dict[int, list[Attached]]]:
    """By thread id: its collaborators (in the order they were added) and its entries' files (in entry order)."""
    collaborators: dict[int, list[Collaborator]] = {}
    files: dict[int, list[Attached]] = {}
    if not thread_ids:
        return collaborators, files
    marks = ", ".join(["%s"] * len(thread_ids))
    cur.execute(
        f"""SELECT c.thread_id, c.flags, u.name, ue.address
            FROM {t.thread_collaborator} c
            LEFT JOIN {t.user} u ON u.id = c.user_id
            LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id
            WHERE c.thread_id IN ({marks}) ORDER BY c.id""", list(thread_ids))
    for row in cur.fetchall():
        collaborators.setdefault(int(row["thread_id"]), []).append(
            Collaborator(str(row["address"] or ""), str(row["name"] or ""), bool(int(row["flags"]) & COLLAB_ACTIVE)))
    cur.execute(
        f"""SELECT e.thread_id, a.object_id AS entry_id, COALESCE(a.name, f.name) AS name, f.size, f.type
            FROM {t.thread_entry} e
            JOIN {t.attachment} a ON a.object_id = e.id AND a.type = 'H' AND a.inline = 0
            JOIN {t.file} f ON f.id = a.file_id
            WHERE e.thread_id IN ({marks}) ORDER BY e.id, a.id""", list(thread_ids))
    for row in cur.fetchall():
        files.setdefault(int(row["thread_id"]), []).append(
            Attached(int(row["entry_id"]), str(row["name"] or ""), int(row["size"] or 0), str(row["type"] or "")))
    return collaborators, files
