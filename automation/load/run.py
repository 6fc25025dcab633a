"""A load run: bulk tickets through the ticket API (sent by Locust: `engine`), verified in the database while they are created
(`verification`), optionally a scenario's steps acted out on a sample."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from automation.instance import Instance
from automation.load.plan import Planned, Variety, by_user_id, load_message, plan_tickets
from automation.load.reconcile import reconcile
from automation.load.verification import Created, LoadVerdict, RunVerifier
from automation.osticket import db, runfield
from automation.osticket.api import NewTicket
from automation.osticket.directory import Directory, User
from automation.osticket.http import check_transport
from automation.scenarios.facts import read_run
from automation.scenarios.loader import LoadedScenario
from automation.scenarios.models import Requester, TicketSpec
from automation.scenarios.record import RunResult, new_run_id, save_record
from automation.scenarios.runner import ScenarioRunner
from automation.scenarios.verify import check_ticket
from automation.workspace import Workspace


@dataclass
class LoadResult:
    run_id: str
    tickets: int
    concurrency: int
    seconds: float
    errors: Counter[str]
    created: list[Created] = field(default_factory=list)
    # The newest ticket id before the run (None when unknown): the run's tickets all lie above it.
    after_ticket_id: int | None = None
    verification: LoadVerdict = field(default_factory=LoadVerdict)
    acted: int = 0
    error_samples: dict[str, str] = field(default_factory=dict)
    # Tickets of the run in osTicket it was never answered for (`reconcile`), and the run's id range.
    unconfirmed: list[str] = field(default_factory=list)
    id_range: tuple[int, int] | None = None
    workers: int = 0  # Locust worker processes (0: one local runner)

    @property
    def recorded_range(self) -> tuple[int, int] | None:
        """The id range the record keeps: the reconciled one; else (the database did not answer when the run
        ended) the newest ticket id before the run, left open (`id_range_open`), so that `report` and `verify`
        read every ticket above it (the half-written ones too, which carry no tag) once the database answers."""
        if self.id_range is not None or self.after_ticket_id is None:
            return self.id_range
        return (self.after_ticket_id, self.after_ticket_id)

    @property
    def id_range_open(self) -> bool:
        return self.id_range is None and self.after_ticket_id is not None

    @property
    def numbers(self) -> dict[str, str]:
        return {ticket.item.key: ticket.number for ticket in self.created}

    @property
    def latencies(self) -> list[float]:
        return [ticket.answered - ticket.sent for ticket in self.created]

    @property
    def verified(self) -> int:
        return self.verification.verified

    @property
    def mismatches(self) -> list[str]:
        return self.verification.mismatches

    @property
    def passed(self) -> bool:
        return (not self.errors and not self.mismatches and self.verification.error is None
                and self.verified == self.tickets)

    @property
    def throughput(self) -> float:
        return len(self.created) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tickets": self.tickets, "created": len(self.created),
                "concurrency": self.concurrency,
                "engine": {"name": "locust", "workers": self.workers}, "seconds": round(self.seconds, 3),
                "tickets_per_second": round(self.throughput, 2),
                "latency_ms": {f"p{q}": round(self.percentile(q) * 1000, 1) for q in (50, 95, 99)},
                "errors": dict(self.errors), "error_messages": self.error_samples, "verified": self.verified,
                "mismatches": self.mismatches[:50],
                "verification": {"error": self.verification.error,
                                 "seconds_after_run": round(self.verification.seconds_after_run, 4),
                                 "seconds_in_background": round(self.verification.seconds_in_background, 4),
                                 "queries": self.verification.queries, "chunks": self.verification.chunks},
                "acted_on": self.acted, "unconfirmed": self.unconfirmed,
                "id_range": list(self.recorded_range) if self.recorded_range else None,
                "id_range_open": self.id_range_open}


def new_ticket(item: Planned, run_id: str) -> NewTicket:
    return NewTicket(
        name=item.requester.name, email=item.requester.email,
        subject=f"Load ticket {item.index}", extra={runfield.NAME: runfield.mark(run_id, item.key)},
        message=load_message(item.index, run_id),
        topic_id=item.topic.topic_id if item.topic else None, priority_id=item.priority_id,
        alert=False, autorespond=False,
    )


def create_tickets(instance: Instance, planned: list[Planned], concurrency: int, run_id: str,
                   on_done: Callable[[], None] = lambda: None, after_ticket_id: int | None = None,
                   verifier: RunVerifier | None = None, workers: int = 0) -> LoadResult:
    """Create the planned tickets through the ticket API on Locust (`automation.load.engine`, in a process of
    its own, with ``workers`` local worker processes when not 0), handing each created ticket to ``verifier``
    as soon as the engine reports it.

    ``after_ticket_id`` (`db.last_ticket_id`, read before the run) lets verification find the run's tickets in
    a primary-key range instead of the whole help desk."""
    check_transport(instance.base_url, instance.allow_plain_http)
    errors: Counter[str] = Counter()
    error_samples: dict[str, str] = {}  # osTicket's own message, the first of each kind
    created: list[Created] = []
    by_index = {item.index: item for item in planned}
    job = {"target": {"base_url": instance.base_url, "api_key": instance.api_key.get_secret_value(),
                      "pin_sha256": instance.https_certificate_sha256},
           "concurrency": concurrency, "workers": workers,
           "tickets": [[item.index, asdict(new_ticket(item, run_id))] for item in planned]}
    started = time.perf_counter()
    last = started
    with tempfile.TemporaryFile("w+") as stderr:
        engine = subprocess.Popen([sys.executable, "-m", "automation.load.engine"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert engine.stdin is not None
        assert engine.stdout is not None
        try:
            engine.stdin.write(json.dumps(job))
            engine.stdin.close()
            for line in engine.stdout:
                report = json.loads(line)
                if "start" in report:
                    started = float(report["start"])  # the engine's own start-up is not the run's
                    continue
                item = by_index.pop(int(report["i"]))
                if "number" in report:
                    done = Created(item, str(report["number"]), float(report["sent"]), float(report["answered"]))
                    last = max(last, done.answered)
                    created.append(done)
                    if verifier is not None:
                        verifier.add(done)
                else:
                    errors[report["kind"]] += 1
                    error_samples.setdefault(report["kind"], report["message"])
                on_done()
        finally:
            if engine.poll() is None:
                engine.terminate()
            engine.wait(timeout=60)
        if by_index:  # the engine stopped before reporting these: never known to be sent
            stderr.seek(0)
            why = stderr.read().strip().splitlines()
            errors["engine stopped"] += len(by_index)
            error_samples.setdefault("engine stopped", f"the Locust engine exited {engine.returncode}"
                                     + (f": {why[-1]}" if why else ""))
            for _ in by_index:
                on_done()
    seconds = (last if created else time.perf_counter()) - started
    return LoadResult(run_id, len(planned), concurrency, seconds, errors, created,
                      after_ticket_id, error_samples=error_samples, workers=workers)


def verify_load(conn: Any, t: db.Tables, result: LoadResult, planned: list[Planned]) -> None:
    """Verify a whole run now, in one query when every ticket is as planned (`RunVerifier` without the
    background thread: the run's tickets form one chunk)."""
    verifier = RunVerifier(conn, t, result.after_ticket_id, by_user_id(planned))
    for ticket in result.created:
        verifier.add(ticket)
    result.verification = verifier.finish()


def create_and_verify(instance: Instance, conn: Any, t: db.Tables, planned: list[Planned], concurrency: int,
                      run_id: str, on_done: Callable[[], None] = lambda: None,
                      check_every: float = 0.5, workers: int = 0) -> LoadResult:
    """Create the planned tickets and verify them in the database while they are being created (the tickets
    answered so far checked every ``check_every`` seconds)."""
    after = db.last_ticket_id(conn, t)
    # Its own connection, so the caller's stays free and a dropped one can be replaced.
    verifier = RunVerifier(db.connect(instance), t, after, by_user_id(planned), interval=check_every,
                           reopen=lambda: db.connect(instance))
    try:
        with verifier.running():
            result = create_tickets(instance, planned, concurrency, run_id, on_done, after, verifier, workers)
        result.verification = verifier.finish()
    finally:
        if verifier.conn.open:
            verifier.conn.close()
    return result


@dataclass
class Acted:
    item: Planned
    spec: TicketSpec


def act_on_sample(runner: ScenarioRunner, loaded: LoadedScenario, directory: Directory, result: LoadResult,
                  planned: list[Planned], sample: int) -> list[Acted]:
    """Act the scenario's tickets' steps out on ``sample`` of the created tickets (round robin)."""
    numbers = result.numbers
    created = [item for item in planned if item.key in numbers][:sample]
    ids = db.ticket_ids(runner.conn, runner.tables, [numbers[item.key] for item in created],
                        result.after_ticket_id or 0)  # within the run's id range
    acted = []
    for index, item in enumerate(created):
        template = loaded.scenario.tickets[index % len(loaded.scenario.tickets)]
        spec = template.model_copy(update={
            "key": item.key, "channel": "api",  # load tickets all come through the ticket API
            "requester": Requester(name=item.requester.name, email=item.requester.email),
            "topic": item.topic.name if item.topic else None, "subject": f"Load ticket {item.index}",
            "message": load_message(item.index, result.run_id)})
        number = numbers[item.key]
        subject = f"Load ticket {item.index}"
        # The load's plan varies priorities, so a sample may already have the one a step sets: osTicket refuses
        # a change to the value a ticket has ("Unable to update field", include/class.ticket.php updateField),
        # and an agent would not make it. Such a step is left out of the acting and of what is verified.
        priority, kept = item.priority_id, []
        for step in spec.steps:
            if step.do == "change_priority":
                if directory.priorities[step.priority] == priority:
                    continue
                priority = directory.priorities[step.priority]
            kept.append(step)
        spec = spec.model_copy(update={"steps": kept})
        for step in spec.steps:
            runner.act_step(step, ids[number], number, spec, subject, directory)
        acted.append(Acted(item, spec))
    return acted


def load_record_of(result: LoadResult) -> RunResult:
    return RunResult(result.run_id, "(load)", {k: {"number": n} for k, n in result.numbers.items()},
                     id_range=result.recorded_range, unconfirmed=result.unconfirmed, kind="load")


def save_load_record(workspace: Workspace, result: LoadResult, scenario: LoadedScenario | None) -> None:
    """Record a load run like a scenario's run: `ostops runs` lists it, `report`, `verify` and `purge` find it
    by id; with the load's figures and its id range (open when it could not be reconciled)."""
    save_record(workspace, result.run_id, {
        **load_record_of(result).to_json(), **result.to_dict(), "passed": result.passed,
        "scenario": scenario.scenario.name if scenario is not None else "",
        "tickets": load_record_of(result).tickets})


def run_load(instance: Instance, count: int, concurrency: int, on_done: Callable[[], None] = lambda: None,
             conn: Any | None = None, scenario: LoadedScenario | None = None, sample: int = 0,
             workspace: Workspace | None = None, workers: int = 0) -> LoadResult:
    own_connection = conn is None
    conn = conn or db.connect(instance)
    try:
        workspace = workspace or Workspace.at()
        scenario = scenario if sample > 0 else None
        result = _run_load(instance, conn, count, concurrency, on_done, scenario, sample, workspace, workers)
        save_load_record(workspace, result, scenario)
        return result
    finally:
        if own_connection:
            conn.close()


def _run_load(instance: Instance, conn: Any, count: int, concurrency: int, on_done: Callable[[], None],
              scenario: LoadedScenario | None, sample: int, workspace: Workspace, workers: int = 0) -> LoadResult:
    tables = db.Tables(instance.db.table_prefix)
    variety = Variety.read(conn, tables)
    planned = plan_tickets(variety, count)
    runner = directory = None
    if scenario is not None:
        # Everything the scenario names, and every agent's password, is checked before any ticket exists.
        runner = ScenarioRunner(instance, workspace, conn=conn)
        directory = runner.prepare(scenario)
        # The sampled tickets arrive as the scenario's own would (its requester and topic), so its agents
        # have the same permissions on them as in the scenario.
        topics = {t.name: t for t in variety.topics}
        known = {r.email.lower(): r for r in variety.requesters}
        for index, item in enumerate(planned[:sample]):
            template = scenario.scenario.tickets[index % len(scenario.scenario.tickets)]
            email = str(template.requester.email)
            item.requester = known.get(email.lower(), User(template.requester.name, email))
            item.topic = topics.get(template.topic or "", item.topic)
    # Every ticket is verified as osTicket created it; the sampled ones are then acted on and checked against
    # the scenario's expectations.
    result = create_and_verify(instance, conn, tables, planned, concurrency, new_run_id(), on_done,
                               workers=workers)
    result.id_range, result.unconfirmed = reconcile(lambda: db.connect(instance), tables, result.run_id,
                                                    result.after_ticket_id or 0, set(result.numbers.values()))
    # Recorded now, so that a failure while acting on the sample still leaves the run findable by primary key
    # (and names what this run could not confirm); completed with the figures at the end.
    save_load_record(workspace, result, scenario)
    acted: list[Acted] = []
    if runner is not None and directory is not None and scenario is not None:
        try:
            acted = act_on_sample(runner, scenario, directory, result, planned, sample)
        finally:
            runner.close_sessions()
    if acted:
        # By primary key within the run's range (the run field names each ticket's key), not by a scan.
        by_key = {f.key: f for f in read_run(conn, tables, result.run_id, result.recorded_range) if f.key}
        now = db.server_now(conn)
        for act in acted:
            found = by_key.get(act.item.key)
            if found is not None:
                result.verification.mismatches.extend(f"{act.item.key} (#{found.number}): {problem}"
                                         for problem in check_ticket(act.spec, found, now))
        result.acted = len(acted)
    return result
