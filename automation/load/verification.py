"""Verification of a load run in osTicket's database, streamed alongside the run.

Every created ticket must exist with its requester and topic, and the SLA osTicket gives a new ticket of that
topic. A background thread checks the tickets in chunks while the workers wait on osTicket, so the check after
the last ticket covers only the tickets created since the last chunk: the verdict arrives as soon after the
run whatever its size, and every chunk's database answer is one row.

A chunk is checked with one aggregate query: the count and the sum of a hash of "number|requester|topic|SLA"
over the chunk's tickets as osTicket holds them, compared with the same fingerprint computed from the plan.
The chunk's tickets are found by number inside a primary-key range, never by a scan of the help desk: above the
newest ticket id from before the run, or, tighter, above the highest id of a checked chunk whose tickets were
all answered before the first of this chunk's requests was sent (a ticket's id is given when it is inserted,
so such a chunk's tickets have smaller ids). A chunk that does not match is checked again over the whole run's
range, and only then is a last query asked to name the tickets that differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.load.plan import Planned
from automation.osticket import db


def line_hash(line: str) -> int:
    """60 bits of the line's SHA-1, as the fingerprint query computes them. Not CRC-32: it is affine, so the
    same mistake in two tickets changes both CRCs by the same bits and can cancel out in a sum."""
    return int(hashlib.sha1(line.encode(), usedforsecurity=False).hexdigest()[:15], 16)


# The same in SQL: a BIGINT UNSIGNED per row, so SUM is exact (DECIMAL), never a floating-point sum.
LINE_HASH_SQL = "CAST(CONV(LEFT(SHA1({line}), 15), 16, 10) AS UNSIGNED)"


@dataclass
class Fingerprint:
    """Count and exact sum of `line_hash` over one line per ticket: cheap to accumulate, cheap to compare; any
    set of wrong lines goes unnoticed only if their hashes happen to cancel out (odds about 1 in 2**60)."""

    count: int = 0
    total: int = 0

    def add(self, line: str) -> None:
        self.count, self.total = self.count + 1, self.total + line_hash(line)

    def as_tuple(self) -> tuple[int, int]:
        return self.count, self.total


def expected_sla_id(item: Planned) -> int | None:
    """The SLA osTicket gives a new ticket of the item's topic (0: none); None for a ticket without a topic,
    whose SLA is not checked."""
    return None if item.topic is None else item.topic.expected_sla_id or 0


def expected_line(number: str, item: Planned, by_user_id: bool) -> str:
    """What osTicket must hold for one ticket: "number|requester|topic|SLA" (the SLA -1 when not checked),
    as the fingerprint query below writes it."""
    sla = expected_sla_id(item)
    who = item.requester.user_id if by_user_id else item.requester.email.lower()
    return f"{number}|{who}|{item.topic.topic_id if item.topic else 0}|{-1 if sla is None else sla}"


@dataclass(frozen=True)
class Created:
    """One ticket the API created, with when its request was sent and answered (``time.perf_counter``)."""

    item: Planned
    number: str
    sent: float
    answered: float


@dataclass
class Chunk:
    tickets: list[Created]
    taken_at: float  # after every one of its tickets was answered
    max_id: int | None = None  # the highest ticket id among its tickets, once checked
    matched: bool = False


def lower_bound(checked: Sequence[Chunk], chunk: Chunk, after_ticket_id: int) -> int:
    """An id below every id of ``chunk``'s tickets: the highest id of a matched chunk taken before the first
    of ``chunk``'s requests was sent, else the newest id from before the run."""
    first_sent = min(ticket.sent for ticket in chunk.tickets)
    bounds = [c.max_id for c in checked if c.matched and c.max_id is not None and c.taken_at < first_sent]
    return max(bounds, default=after_ticket_id)


@dataclass
class LoadVerdict:
    verified: int = 0
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None  # why verification could not finish (the database's own message)
    seconds_after_run: float = 0.0  # from the last ticket's answer to the verdict
    seconds_in_finish: float = 0.0  # the final checks alone
    seconds_in_background: float = 0.0  # spent on chunk queries in the background
    queries: int = 0
    chunks: int = 0


class RunVerifier:
    """Checks a run's tickets as they are created (see the module's docstring).

    ``add`` is called by the worker threads; ``running`` checks chunks in a background thread on the given
    connection (nothing else may use it meanwhile); ``finish``, after ``running``, checks what is left and
    returns the verdict. ``reopen`` opens a new connection when the server dropped this one."""

    def __init__(self, conn: Any, tables: db.Tables, after_ticket_id: int | None, by_user_id: bool,
                 interval: float = 0.5, reopen: Callable[[], Any] | None = None) -> None:
        self.conn, self.tables, self.by_user_id, self.interval = conn, tables, by_user_id, interval
        self.reopen = reopen
        # Without a starting id every chunk is looked for in the whole ticket table: correct, but slower.
        self.after_ticket_id = after_ticket_id or 0
        self._pending: list[Created] = []
        self._checked: list[Chunk] = []
        self._last_answer: float | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failure: db.DatabaseError | None = None
        self._verdict = LoadVerdict()

    def add(self, ticket: Created) -> None:
        with self._wake:
            self._pending.append(ticket)
            self._last_answer = max(self._last_answer or ticket.answered, ticket.answered)

    @contextlib.contextmanager
    def running(self) -> Iterator[RunVerifier]:
        self._thread = threading.Thread(target=self._loop, name="ostops-verify", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            with self._wake:
                self._stopping = True
                self._wake.notify()
            self._thread.join()
            self._thread = None

    def finish(self) -> LoadVerdict:
        """Check the tickets not checked yet, look again at chunks that differed, and name what still differs.

        A database failure does not lose the run: what is left is checked once more (every query here is a
        SELECT, safe to repeat), on a new connection when ``reopen`` was given; if that fails too, the verdict
        says why and counts only the tickets checked before."""
        if self._thread is not None:
            raise RuntimeError("RunVerifier.finish() must be called after running() has ended")
        started = time.perf_counter()
        verdict = self._verdict
        named: dict[str, str] = {}
        try:
            if self._failure is not None and self.reopen is not None:
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = self.reopen()
            self.check_pending()
            for chunk in self._checked:
                if not chunk.matched and lower_bound(self._checked, chunk, self.after_ticket_id) > self.after_ticket_id:
                    chunk.matched = self._query(chunk, self.after_ticket_id)
            suspects = [ticket for chunk in self._checked if not chunk.matched for ticket in chunk.tickets]
            if suspects:
                named = differences(self.conn, self.tables, self.after_ticket_id, suspects)
                verdict.queries += 1
        except db.DatabaseError as exc:
            verdict.error = str(exc)
        verdict.verified, verdict.mismatches = 0, []
        for chunk in self._checked:
            if chunk.matched:
                verdict.verified += len(chunk.tickets)
                continue
            wrong = [named[t.item.key] for t in chunk.tickets if t.item.key in named]
            if wrong:  # the naming query compares each ticket on its own: the others are as planned
                verdict.verified += len(chunk.tickets) - len(wrong)
                verdict.mismatches.extend(wrong)
            elif verdict.error is None:
                keys = [t.item.key for t in chunk.tickets]
                verdict.mismatches.append(f"{keys[0]} … {keys[-1]} ({len(keys)} tickets): osTicket's fingerprint "
                                          "differs from the plan's but no single ticket could be named")
        verdict.chunks = len(self._checked)
        ended = time.perf_counter()
        verdict.seconds_in_finish = ended - started
        verdict.seconds_after_run = ended - self._last_answer if self._last_answer is not None else 0.0
        return verdict

    def _loop(self) -> None:
        try:
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: self._stopping, timeout=self.interval)
                    if self._stopping:
                        return
                started = time.perf_counter()
                if self.check_pending():
                    self._verdict.seconds_in_background += time.perf_counter() - started
        except db.DatabaseError as exc:  # finish() reconnects and checks what is left
            self._failure = exc

    def check_pending(self) -> bool:
        """Check the tickets added since the last check as one chunk; False when there were none."""
        with self._wake:
            chunk, self._pending = Chunk(self._pending, time.perf_counter()), []
        if not chunk.tickets:
            return False
        try:
            chunk.matched = self._query(chunk, lower_bound(self._checked, chunk, self.after_ticket_id))
        except db.DatabaseError:
            with self._wake:  # not checked: back in line, ahead of the tickets added meanwhile
                self._pending[:0] = chunk.tickets
            raise
        self._checked.append(chunk)
        return True

    def _query(self, chunk: Chunk, above_id: int) -> bool:
        expected = Fingerprint()
        for ticket in chunk.tickets:
            expected.add(expected_line(ticket.number, ticket.item, self.by_user_id))
        t = self.tables
        requester = "tk.user_id" if self.by_user_id else "LOWER(COALESCE(ue.address, ''))"
        joins = "" if self.by_user_id else (f"LEFT JOIN {t.user} u ON u.id = tk.user_id "
                                            f"LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id")
        line = f"CONCAT_WS('|', tk.number, {requester}, tk.topic_id, IF(tk.topic_id = 0, -1, tk.sla_id))"
        numbers = [ticket.number for ticket in chunk.tickets]
        with db.cursor(self.conn) as cur:
            cur.execute(
                f"""SELECT COUNT(*) AS n, MAX(tk.ticket_id) AS max_id,
                           COALESCE(SUM({LINE_HASH_SQL.format(line=line)}), 0) AS total
                    FROM {t.ticket} tk {joins}
                    WHERE tk.ticket_id > %s AND tk.number IN ({', '.join(['%s'] * len(numbers))})""",
                [above_id, *numbers],
            )
            row = cur.fetchone()
        self._verdict.queries += 1
        chunk.max_id = None if row["max_id"] is None else int(row["max_id"])
        return (int(row["n"]), int(row["total"])) == expected.as_tuple()


# The expectations travel as one JSON document and are joined in the database, so the answer holds only the
# tickets that differ.
_EXPECTATIONS = """JSON_TABLE(%s, '$[*]' COLUMNS(
    k VARCHAR(64) PATH '$.k', n VARCHAR(20) PATH '$.n', e VARCHAR(255) PATH '$.e',
    tp INT PATH '$.t', s INT PATH '$.s'))"""


def _enable_hash_join(cur: Any) -> None:
    """MariaDB joins on an unindexed column (``ticket.number``) by hash only when asked; MySQL 8 always does."""
    cur.execute("SELECT VERSION() AS v")
    if "mariadb" in str(cur.fetchone()["v"]).lower():
        cur.execute("SET SESSION join_cache_level = 4")


def differences(conn: Any, t: db.Tables, after_ticket_id: int, tickets: list[Created]) -> dict[str, str]:
    """For each ticket that is missing or differs from its plan, its key and a line naming what differs."""
    expectations = [
        {"k": c.item.key, "n": c.number, "e": c.item.requester.email,
         "t": c.item.topic.topic_id if c.item.topic else 0, "s": expected_sla_id(c.item)}
        for c in tickets
    ]
    with db.cursor(conn) as cur:
        _enable_hash_join(cur)
        cur.execute(
            f"""SELECT exp.k, exp.n, exp.e, exp.s AS expected_sla_id, tk.ticket_id, tk.sla_id, ue.address,
                       tp.topic, etp.topic AS expected_topic, sla.name AS sla, esla.name AS expected_sla
                FROM {_EXPECTATIONS} AS exp
                LEFT JOIN {t.ticket} tk ON tk.number = exp.n AND tk.ticket_id > %s
                LEFT JOIN {t.user} u ON u.id = tk.user_id
                LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id
                LEFT JOIN {t.help_topic} tp ON tp.topic_id = tk.topic_id
                LEFT JOIN {t.help_topic} etp ON etp.topic_id = exp.tp
                LEFT JOIN {t.sla} sla ON sla.id = tk.sla_id
                LEFT JOIN {t.sla} esla ON esla.id = exp.s
                WHERE tk.ticket_id IS NULL OR ue.address IS NULL OR LOWER(ue.address) <> LOWER(exp.e)
                   OR tk.topic_id <> exp.tp OR (exp.s IS NOT NULL AND tk.sla_id <> exp.s)""",
            (json.dumps(expectations), after_ticket_id),
        )
        wrong = cur.fetchall()
    named = {}
    for row in wrong:
        if row["ticket_id"] is None:
            named[row["k"]] = f"{row['k']}: ticket #{row['n']} not found in the database"
            continue
        problems = []
        if (row["address"] or "").lower() != row["e"].lower():
            problems.append(f"requester {row['address']!r} != {row['e']!r}")
        if row["topic"] != row["expected_topic"]:
            problems.append(f"topic {row['topic']!r} != {row['expected_topic']!r}")
        if row["expected_sla_id"] is not None and row["sla_id"] != row["expected_sla_id"]:
            problems.append(f"SLA {_sla_name(row['sla'], row['sla_id'])} != "
                            f"{_sla_name(row['expected_sla'], row['expected_sla_id'])}")
        named[row["k"]] = f"{row['k']} (#{row['n']}): " + "; ".join(problems)
    return named


def _sla_name(name: str | None, sla_id: int) -> str:
    return repr(name) if name is not None else ("no SLA" if sla_id == 0 else f"SLA id {sla_id}")
