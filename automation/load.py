"""Bulk ticket traffic through the ticket API, then verification of every ticket in the database."""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.errors import ApiError, OsTicketError
from automation.instance import Instance, default_instance_path
from automation.osticket import db
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.http import new_session
from automation.scenarios.directory import Directory
from automation.scenarios.facts import read_run, run_like, run_tag
from automation.scenarios.loader import LoadedScenario
from automation.scenarios.models import Requester as Requester_
from automation.scenarios.models import TicketSpec
from automation.scenarios.runner import ScenarioRunner, new_run_id
from automation.scenarios.verify import check_ticket


@dataclass(frozen=True)
class Requester:
    name: str
    email: str
    user_id: int | None = None  # known for requesters read from the help desk


@dataclass(frozen=True)
class Topic:
    topic_id: int
    name: str
    expected_sla_id: int | None


@dataclass
class Variety:
    """Requesters, topics and priorities as seeded on the instance (one query each)."""

    requesters: list[Requester]
    topics: list[Topic]
    priorities: dict[int, str]

    @classmethod
    def read(cls, conn: Any, t: db.Tables, limit: int = 200) -> Variety:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT u.id, u.name, e.address FROM {t.user} u JOIN {t.user_email} e "
                        f"ON e.id = u.default_email_id ORDER BY u.id LIMIT {int(limit)}")
            requesters = [Requester(r["name"], r["address"], r["id"]) for r in cur.fetchall()]
            # The SLA osTicket gives a new ticket: the topic's, else its department's, else the system default.
            cur.execute(
                f"""SELECT tp.topic_id, tp.topic, COALESCE(ts.id, ds.id, cs.id) AS sla_id
                    FROM {t.help_topic} tp
                    LEFT JOIN {t.config} dd ON dd.namespace = 'core' AND dd.`key` = 'default_dept_id'
                    LEFT JOIN {t.department} d ON d.id = IF(tp.dept_id > 0, tp.dept_id, dd.value)
                    LEFT JOIN {t.config} dsla ON dsla.namespace = 'core' AND dsla.`key` = 'default_sla_id'
                    LEFT JOIN {t.sla} ts ON ts.id = tp.sla_id AND tp.sla_id > 0
                    LEFT JOIN {t.sla} ds ON ds.id = d.sla_id AND d.sla_id > 0
                    LEFT JOIN {t.sla} cs ON cs.id = dsla.value
                    WHERE tp.flags & 2 AND tp.ispublic = 1 ORDER BY tp.topic_id""")
            topics = [Topic(r["topic_id"], r["topic"], r["sla_id"]) for r in cur.fetchall()]
            cur.execute(f"SELECT priority_id, priority_desc FROM {t.ticket_priority} ORDER BY priority_id")
            priorities = {r["priority_id"]: r["priority_desc"] for r in cur.fetchall()}
        if not requesters:
            requesters = [Requester(f"Load User {i}", f"load.user{i}@example.com") for i in range(10)]
        return cls(requesters, topics, priorities)


@dataclass
class Planned:
    index: int
    requester: Requester
    topic: Topic | None
    priority_id: int

    @property
    def key(self) -> str:
        return f"load-{self.index}"


@dataclass
class Fingerprint:
    """Count, sum and xor of the CRC-32s of one line per ticket: cheap to accumulate, cheap to compare."""

    count: int = 0
    total: int = 0
    xored: int = 0

    def add(self, line: str) -> None:
        crc = zlib.crc32(line.encode())
        self.count, self.total, self.xored = self.count + 1, self.total + crc, self.xored ^ crc

    def remove(self, line: str) -> None:
        crc = zlib.crc32(line.encode())
        self.count, self.total, self.xored = self.count - 1, self.total - crc, self.xored ^ crc

    def as_tuple(self) -> tuple[int, int, int]:
        return self.count, self.total, self.xored


def expected_line(number: str, item: Planned, by_id: bool, acted: bool = False) -> str:
    """What osTicket must hold for one ticket: "number|requester|topic|SLA" (SLA -1 when not predicted)."""
    topic = item.topic
    sla = -1 if acted or topic is None or topic.expected_sla_id is None else topic.expected_sla_id
    who = item.requester.user_id if by_id else item.requester.email.lower()
    return f"{number}|{who}|{topic.topic_id if topic else 0}|{sla}"


@dataclass
class LoadResult:
    run_id: str
    tickets: int
    concurrency: int
    seconds: float
    latencies: list[float]
    errors: Counter[str]
    numbers: dict[str, str] = field(default_factory=dict)
    verified: int = 0
    mismatches: list[str] = field(default_factory=list)
    verify_seconds: float = 0.0
    acted: int = 0
    # The requester is compared by user id when the plan knows every id (no join needed), else by address.
    by_user_id: bool = False
    expected: Fingerprint = field(default_factory=Fingerprint)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tickets": self.tickets, "created": len(self.latencies),
                "concurrency": self.concurrency, "seconds": round(self.seconds, 3),
                "tickets_per_second": round(self.throughput, 2),
                "latency_ms": {f"p{q}": round(self.percentile(q) * 1000, 1) for q in (50, 95, 99)},
                "errors": dict(self.errors), "verified": self.verified, "mismatches": self.mismatches[:50],
                "verify_seconds": round(self.verify_seconds, 3),
                "acted_on": self.acted}


def plan_tickets(variety: Variety, count: int, seed: int = 7) -> list[Planned]:
    rng = random.Random(seed)
    priorities = list(variety.priorities) or [2]
    return [Planned(i, rng.choice(variety.requesters), rng.choice(variety.topics) if variety.topics else None,
                    rng.choice(priorities)) for i in range(count)]


def create_tickets(instance: Instance, planned: list[Planned], concurrency: int, run_id: str,
                   on_done: Callable[[], None] = lambda: None) -> LoadResult:
    local = threading.local()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    numbers: dict[str, str] = {}
    by_user_id = all(item.requester.user_id is not None for item in planned)
    # Accumulated while the workers wait on osTicket, so verification is one aggregate query.
    expected = Fingerprint()

    clients: list[TicketApi] = []

    def api() -> TicketApi:
        if not hasattr(local, "api"):
            # One pooled keep-alive session per worker.
            local.api = TicketApi(instance.base_url, instance.api_key.get_secret_value(), session=new_session(1))
            with lock:
                clients.append(local.api)
        return local.api

    def one(item: Planned) -> None:
        ticket = NewTicket(
            name=item.requester.name, email=item.requester.email,
            subject=f"Load ticket {item.index} {run_tag(run_id, item.key)}",
            message=f"Generated by ostops load, ticket {item.index} of run {run_id}.",
            topic_id=item.topic.topic_id if item.topic else None, priority_id=item.priority_id,
            alert=False, autorespond=False,
        )
        started = time.perf_counter()
        try:
            number = api().create_ticket(ticket)
        except ApiError as exc:
            with lock:
                errors[f"HTTP {exc.status}" if exc.status else "no answer"] += 1
        except OsTicketError as exc:
            with lock:
                errors[exc.__class__.__name__] += 1
        else:
            elapsed = time.perf_counter() - started
            line = expected_line(number, item, by_user_id)
            with lock:
                latencies.append(elapsed)
                numbers[item.key] = number
                expected.add(line)
        on_done()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, planned))
    for client in clients:
        client.close()
    return LoadResult(run_id, len(planned), concurrency, time.perf_counter() - started, latencies, errors, numbers,
                      by_user_id=by_user_id, expected=expected)


def verify_load(conn: Any, t: db.Tables, result: LoadResult, planned: list[Planned],
                acted_on: frozenset[str] = frozenset()) -> None:
    """Each created ticket exists with its requester and topic, and the SLA osTicket gives a new ticket of that
    topic (except tickets a scenario acted on: their scenario expectations are checked instead).

    One aggregate query computes the fingerprint of the run's tickets as osTicket holds them and compares it
    with the one accumulated from the plan as the tickets were created; only when they differ does a second
    query name the tickets that differ. Either way the answer's size does not grow with the run."""
    started = time.perf_counter()
    expected = Fingerprint(*result.expected.as_tuple())
    items = {item.key: item for item in planned}
    for key in acted_on:
        if key in result.numbers:
            expected.remove(expected_line(result.numbers[key], items[key], result.by_user_id))
            expected.add(expected_line(result.numbers[key], items[key], result.by_user_id, acted=True))
    acted_numbers = [result.numbers[key] for key in sorted(acted_on) if key in result.numbers] or [""]
    requester = "tk.user_id" if result.by_user_id else "LOWER(COALESCE(ue.address, ''))"
    joins = "" if result.by_user_id else (f"LEFT JOIN {t.user} u ON u.id = tk.user_id "
                                          f"LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id")
    with db.cursor(conn) as cur:
        cur.execute(
            f"""SELECT COUNT(*) AS n, COALESCE(SUM(c), 0) AS total, COALESCE(BIT_XOR(c), 0) AS xored FROM (
                  SELECT CRC32(CONCAT_WS('|', tk.number, {requester}, tk.topic_id,
                                         IF(tk.number IN ({', '.join(['%s'] * len(acted_numbers))}), -1,
                                            tk.sla_id))) AS c
                  FROM {t.ticket__cdata} cd JOIN {t.ticket} tk ON tk.ticket_id = cd.ticket_id {joins}
                  WHERE cd.subject LIKE %s) AS fingerprint""",
            (*acted_numbers, run_like(result.run_id)),
        )
        found = cur.fetchone()
    created = len(result.numbers)
    if (int(found["n"]), int(found["total"]), int(found["xored"])) == expected.as_tuple():
        result.verified = created
    else:
        wrong = _differences(conn, t, result, [item for item in planned if item.key in result.numbers], acted_on)
        result.mismatches.extend(wrong)
        result.verified = created - len(wrong)
    result.verify_seconds = time.perf_counter() - started


# The plan travels as one JSON document and is joined in the database, so the answer holds only the tickets
# that differ.
_EXPECTATIONS = """JSON_TABLE(%s, '$[*]' COLUMNS(
    k VARCHAR(64) PATH '$.k', n VARCHAR(20) PATH '$.n', e VARCHAR(255) PATH '$.e',
    tp INT PATH '$.t', s INT PATH '$.s'))"""


def _enable_hash_join(cur: Any) -> None:
    """MariaDB joins on an unindexed column (``ticket.number``) by hash only when asked; MySQL 8 always does."""
    cur.execute("SELECT VERSION() AS v")
    if "mariadb" in str(cur.fetchone()["v"]).lower():
        cur.execute("SET SESSION join_cache_level = 4")


def _differences(conn: Any, t: db.Tables, result: LoadResult, created: list[Planned],
                 acted_on: frozenset[str]) -> list[str]:
    expectations = [
        {"k": item.key, "n": result.numbers[item.key], "e": item.requester.email,
         "t": item.topic.topic_id if item.topic else 0,
         "s": item.topic.expected_sla_id if item.topic and item.key not in acted_on else None}
        for item in created
    ]
    with db.cursor(conn) as cur:
        _enable_hash_join(cur)
        cur.execute(
            f"""SELECT exp.k, exp.n, exp.e, tk.ticket_id, ue.address, tp.topic, etp.topic AS expected_topic,
                       sla.name AS sla, esla.name AS expected_sla
                FROM {_EXPECTATIONS} AS exp
                LEFT JOIN {t.ticket} tk ON tk.number = exp.n
                LEFT JOIN {t.user} u ON u.id = tk.user_id
                LEFT JOIN {t.user_email} ue ON ue.id = u.default_email_id
                LEFT JOIN {t.help_topic} tp ON tp.topic_id = tk.topic_id
                LEFT JOIN {t.help_topic} etp ON etp.topic_id = exp.tp
                LEFT JOIN {t.sla} sla ON sla.id = tk.sla_id
                LEFT JOIN {t.sla} esla ON esla.id = exp.s
                WHERE tk.ticket_id IS NULL OR ue.address IS NULL OR LOWER(ue.address) <> LOWER(exp.e)
                   OR tk.topic_id <> exp.tp OR (exp.s IS NOT NULL AND tk.sla_id <> exp.s)""",
            (json.dumps(expectations),),
        )
        wrong = cur.fetchall()
    mismatches = []
    for row in wrong:
        if row["ticket_id"] is None:
            mismatches.append(f"{row['k']}: ticket #{row['n']} not found in the database")
            continue
        problems = []
        if (row["address"] or "").lower() != row["e"].lower():
            problems.append(f"requester {row['address']!r} != {row['e']!r}")
        if row["topic"] != row["expected_topic"]:
            problems.append(f"topic {row['topic']!r} != {row['expected_topic']!r}")
        if row["expected_sla"] is not None and row["sla"] != row["expected_sla"]:
            problems.append(f"SLA {row['sla']!r} != {row['expected_sla']!r}")
        mismatches.append(f"{row['k']} (#{row['n']}): " + "; ".join(problems))
    return mismatches


@dataclass
class Acted:
    item: Planned
    spec: TicketSpec


def act_on_sample(runner: ScenarioRunner, loaded: LoadedScenario, directory: Directory, result: LoadResult,
                  planned: list[Planned], sample: int) -> list[Acted]:
    """Act the scenario's tickets' steps out on ``sample`` of the created tickets (round robin)."""
    created = [item for item in planned if item.key in result.numbers][:sample]
    numbers = [result.numbers[item.key] for item in created]
    ids: dict[str, int] = {}
    if numbers:
        with db.cursor(runner.conn) as cur:
            cur.execute(f"SELECT number, ticket_id FROM {runner.tables.ticket} WHERE number IN "
                        f"({', '.join(['%s'] * len(numbers))})", numbers)
            ids = {str(row["number"]): int(row["ticket_id"]) for row in cur.fetchall()}
    acted = []
    for index, item in enumerate(created):
        template = loaded.scenario.tickets[index % len(loaded.scenario.tickets)]
        spec = template.model_copy(update={
            "key": item.key, "requester": Requester_(name=item.requester.name, email=item.requester.email),
            "topic": item.topic.name if item.topic else None, "subject": f"Load ticket {item.index}"})
        number = result.numbers[item.key]
        subject = f"Load ticket {item.index} {run_tag(result.run_id, item.key)}"
        for step in spec.steps:
            runner.act_step(step, ids[number], number, spec, subject, directory)
        acted.append(Acted(item, spec))
    return acted


def run_load(instance: Instance, count: int, concurrency: int, on_done: Callable[[], None] = lambda: None,
             conn: Any | None = None, scenario: LoadedScenario | None = None, sample: int = 0,
             instance_path: Path | None = None) -> LoadResult:
    own_connection = conn is None
    conn = conn or db.connect(instance)
    try:
        return _run_load(instance, conn, count, concurrency, on_done, scenario if sample > 0 else None, sample,
                         instance_path or default_instance_path())
    finally:
        if own_connection:
            conn.close()


def _run_load(instance: Instance, conn: Any, count: int, concurrency: int, on_done: Callable[[], None],
              scenario: LoadedScenario | None, sample: int, instance_path: Path) -> LoadResult:
    tables = db.Tables(instance.db.table_prefix)
    variety = Variety.read(conn, tables)
    planned = plan_tickets(variety, count)
    runner = directory = None
    if scenario is not None:
        # Everything the scenario names, and every agent's password, is checked before any ticket exists.
        runner = ScenarioRunner(instance, instance_path, conn=conn)
        directory = runner.prepare(scenario)
        # The sampled tickets arrive as the scenario's own would (its requester and topic), so its agents
        # have the same permissions on them as in the scenario.
        topics = {t.name: t for t in variety.topics}
        known = {r.email.lower(): r for r in variety.requesters}
        for index, item in enumerate(planned[:sample]):
            template = scenario.scenario.tickets[index % len(scenario.scenario.tickets)]
            email = str(template.requester.email)
            item.requester = known.get(email.lower(), Requester(template.requester.name, email))
            item.topic = topics.get(template.topic or "", item.topic)
    result = create_tickets(instance, planned, concurrency, new_run_id(), on_done)
    acted: list[Acted] = []
    if runner is not None and directory is not None and scenario is not None:
        try:
            acted = act_on_sample(runner, scenario, directory, result, planned, sample)
        finally:
            runner.close_sessions()
    verify_load(conn, tables, result, planned, frozenset(a.item.key for a in acted))
    if acted:
        by_key = {f.key: f for f in read_run(conn, tables, result.run_id)}
        now = db.server_now(conn)
        for act in acted:
            found = by_key.get(act.item.key)
            if found is not None:
                result.mismatches.extend(f"{act.item.key} (#{found.number}): {problem}"
                                         for problem in check_ticket(act.spec, found, now))
        result.acted = len(acted)
    return result
