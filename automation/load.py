"""Bulk ticket traffic through the ticket API, then verification of every ticket in the database."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from automation.errors import ApiError, OsTicketError
from automation.instance import Instance
from automation.osticket import db
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.http import new_session
from automation.scenarios.facts import TicketFacts, read_run, run_tag
from automation.scenarios.runner import new_run_id


@dataclass(frozen=True)
class Requester:
    name: str
    email: str


@dataclass(frozen=True)
class Topic:
    topic_id: int
    name: str
    expected_sla: str | None


@dataclass
class Variety:
    """Requesters, topics and priorities as seeded on the instance (one query each)."""

    requesters: list[Requester]
    topics: list[Topic]
    priorities: dict[int, str]

    @classmethod
    def read(cls, conn: Any, t: db.Tables, limit: int = 200) -> Variety:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT u.name, e.address FROM {t.user} u JOIN {t.user_email} e ON e.id = u.default_email_id "
                        f"ORDER BY u.id LIMIT {int(limit)}")
            requesters = [Requester(r["name"], r["address"]) for r in cur.fetchall()]
            # The SLA osTicket gives a new ticket: the topic's, else its department's, else the system default.
            cur.execute(
                f"""SELECT tp.topic_id, tp.topic, COALESCE(ts.name, ds.name, cs.name) AS sla
                    FROM {t.help_topic} tp
                    LEFT JOIN {t.config} dd ON dd.namespace = 'core' AND dd.`key` = 'default_dept_id'
                    LEFT JOIN {t.department} d ON d.id = IF(tp.dept_id > 0, tp.dept_id, dd.value)
                    LEFT JOIN {t.config} dsla ON dsla.namespace = 'core' AND dsla.`key` = 'default_sla_id'
                    LEFT JOIN {t.sla} ts ON ts.id = tp.sla_id AND tp.sla_id > 0
                    LEFT JOIN {t.sla} ds ON ds.id = d.sla_id AND d.sla_id > 0
                    LEFT JOIN {t.sla} cs ON cs.id = dsla.value
                    WHERE tp.flags & 2 AND tp.ispublic = 1 ORDER BY tp.topic_id""")
            topics = [Topic(r["topic_id"], r["topic"], r["sla"]) for r in cur.fetchall()]
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
                "verify_seconds": round(self.verify_seconds, 3)}


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

    def api() -> TicketApi:
        if not hasattr(local, "api"):
            # One pooled keep-alive session per worker.
            local.api = TicketApi(instance.base_url, instance.api_key.get_secret_value(), session=new_session(1))
        return local.api  # type: ignore[no-any-return]

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
            with lock:
                latencies.append(elapsed)
                numbers[item.key] = number
        on_done()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, planned))
    return LoadResult(run_id, len(planned), concurrency, time.perf_counter() - started, latencies, errors, numbers)


def verify_load(conn: Any, t: db.Tables, result: LoadResult, planned: list[Planned]) -> list[TicketFacts]:
    started = time.perf_counter()
    facts = read_run(conn, t, result.run_id)
    by_key = {f.key: f for f in facts}
    for item in planned:
        found = by_key.get(item.key)
        if item.key not in result.numbers:
            continue
        if found is None:
            result.mismatches.append(f"{item.key}: ticket #{result.numbers[item.key]} not found in the database")
            continue
        problems = []
        if found.requester_email != item.requester.email:
            problems.append(f"requester {found.requester_email!r} != {item.requester.email!r}")
        if item.topic and found.topic != item.topic.name:
            problems.append(f"topic {found.topic!r} != {item.topic.name!r}")
        if item.topic and found.sla != item.topic.expected_sla:
            problems.append(f"SLA {found.sla!r} != {item.topic.expected_sla!r}")
        if problems:
            result.mismatches.append(f"{item.key} (#{found.number}): " + "; ".join(problems))
        else:
            result.verified += 1
    result.verify_seconds = time.perf_counter() - started
    return facts


def run_load(instance: Instance, count: int, concurrency: int, on_done: Callable[[], None] = lambda: None,
             conn: Any | None = None) -> LoadResult:
    conn = conn or db.connect(instance)
    tables = db.Tables(instance.db.table_prefix)
    planned = plan_tickets(Variety.read(conn, tables), count)
    result = create_tickets(instance, planned, concurrency, new_run_id(), on_done)
    verify_load(conn, tables, result, planned)
    return result
