"""The load's engine: Locust, used as a library (`locust.env.Environment`), sends the planned tickets.

It runs in a process of its own, ``python -m automation.load.engine``: importing Locust monkey-patches the
standard library with gevent (``locust/__init__.py``), which must happen before anything imports ``ssl`` or
``socket`` and would turn the verifier's thread and its MariaDB connection into greenlets of the same loop as
the requests. So the ostops process keeps what Locust does not have (the plan, the verification streaming in
osTicket's database, the verdict, the reconciliation, the JSON) in plain threads, and this process only sends.

The job arrives on stdin as one JSON document (the API key travels there, never on a command line); every
answered or refused ticket leaves as one JSON line on stdout, as soon as it is known:
``{"i": index, "number": …, "sent": …, "answered": …}`` or ``{"i": index, "kind": …, "message": …}``;
``{"start": …}`` first, when the users are about to be spawned. Times are ``time.perf_counter()``, which is
CLOCK_MONOTONIC on Linux, one clock for every process of the machine.

- ``workers`` 0: one `LocalRunner`, ``concurrency`` users in this process.
- ``workers`` N: a `MasterRunner` bound to 127.0.0.1 on a free port and N local worker processes
  (``python -m automation.load.engine --worker PORT``, each a `WorkerRunner`); each worker asks for its share
  of the tickets with Locust's custom messages once it can take it, and reports each ticket back the same way.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gevent
from gevent.event import Event
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser

from automation.errors import ApiError, AuthError
from automation.osticket.api import NewTicket, TicketApi
from automation.osticket.http import new_session, pin_environment

Report = dict[str, Any]
SPAWN_RATE = 1000.0  # users a second: every user is up at once, as the thread pool's workers were
WORKERS_READY_SECONDS = 60.0
LOOPBACK = "127.0.0.1"


@dataclass
class Target:
    """Where the tickets go and how the API is reached (the parent has checked the transport)."""

    base_url: str
    api_key: str
    pin_sha256: str | None = None

    def api(self) -> TicketApi:
        # One pooled keep-alive session per user.
        session = pin_environment(new_session(1, pin_sha256=self.pin_sha256), self.base_url)
        return TicketApi(self.base_url, self.api_key, session=session)


def error_kind(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}" if exc.status else "no answer"
    if isinstance(exc, AuthError):
        return "HTTP 401"
    return exc.__class__.__name__


def encode(tickets: list[tuple[int, NewTicket]]) -> list[list[Any]]:
    return [[index, asdict(ticket)] for index, ticket in tickets]


def decode(rows: list[list[Any]]) -> list[tuple[int, NewTicket]]:
    return [(int(index), NewTicket(**fields)) for index, fields in rows]


def ticket_user(tickets: deque[tuple[int, NewTicket]], api: Callable[[], TicketApi],
                report: Callable[[Report], None]) -> type[User]:
    """A Locust user class that takes the next planned ticket from ``tickets`` until none is left, creates it
    through the ticket API (never re-sent: a POST that timed out may have landed) and reports it; every
    request is also a Locust request event, so Locust's own statistics count it."""

    class TicketUser(User):
        wait_time = constant(0)

        def on_start(self) -> None:
            self.api = api()

        def on_stop(self) -> None:
            self.api.close()

        @task
        def create(self) -> None:
            if not tickets:
                raise StopUser()
            index, ticket = tickets.popleft()
            sent = time.perf_counter()
            try:
                number = self.api.create_ticket(ticket)
            except Exception as exc:  # noqa: BLE001 - a ticket taken but never reported would stall the run
                answered = time.perf_counter()
                self._fire(sent, answered, exc)
                report({"i": index, "kind": error_kind(exc), "message": str(exc)})
            else:
                answered = time.perf_counter()
                self._fire(sent, answered, None)
                report({"i": index, "number": number, "sent": sent, "answered": answered})

        def _fire(self, sent: float, answered: float, exc: Exception | None) -> None:
            self.environment.events.request.fire(request_type="POST", name="api/tickets.json",
                                                 response_time=(answered - sent) * 1000, response_length=0,
                                                 exception=exc, context={})

    return TicketUser


class Collector:
    """Writes each report as it comes and says when every ticket has been reported."""

    def __init__(self, total: int, write: Callable[[Report], None]) -> None:
        self.left, self.write, self.done = total, write, Event()
        if total == 0:
            self.done.set()

    def __call__(self, report: Report) -> None:
        self.write(report)
        self.left -= 1
        if self.left <= 0:
            self.done.set()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def run_local(target: Target, tickets: list[tuple[int, NewTicket]], concurrency: int,
              write: Callable[[Report], None]) -> None:
    collect = Collector(len(tickets), write)
    env = Environment(user_classes=[ticket_user(deque(tickets), target.api, collect)])
    runner = env.create_local_runner()
    write({"start": time.perf_counter()})
    runner.start(concurrency, spawn_rate=SPAWN_RATE)
    collect.done.wait()
    runner.quit()


def run_master(target: Target, tickets: list[tuple[int, NewTicket]], concurrency: int, workers: int,
               write: Callable[[Report], None]) -> None:
    collect = Collector(len(tickets), write)
    # The master runs no user itself; the class is there so that the workers' users have a name to match.
    env = Environment(user_classes=[ticket_user(deque(), target.api, collect)])
    port = free_port()
    runner = env.create_master_runner(master_bind_host=LOOPBACK, master_bind_port=port)
    runner.register_message("ticket", lambda environment, msg, **_: collect(msg.data))
    served: list[str] = []

    def send_plan(environment: Environment, msg: Any, **_: Any) -> None:
        # Asked for by the worker once its "plan" handler is registered: a plan sent as soon as the worker
        # reports ready could arrive before that and be dropped as an unknown message.
        share = len(served)
        served.append(msg.node_id)
        runner.send_message("plan", {"target": asdict(target), "tickets": encode(tickets[share::workers])},
                            client_id=msg.node_id)

    runner.register_message("want_plan", send_plan)
    processes = [subprocess.Popen([sys.executable, "-m", "automation.load.engine", "--worker", str(port)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) for _ in range(workers)]
    try:
        deadline = time.monotonic() + WORKERS_READY_SECONDS
        while len(served) < workers or len(runner.clients.ready) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit(f"{len(served)} of {workers} Locust workers connected and took their share "
                                 f"within {WORKERS_READY_SECONDS:.0f} s")
            gevent.sleep(0.05)
        write({"start": time.perf_counter()})
        runner.start(concurrency, spawn_rate=SPAWN_RATE)
        while not collect.done.wait(timeout=0.5):
            # A worker gone mid-run never reports the tickets it took: stop, and the ostops process names them.
            gone = [p for p in processes if p.poll() is not None]
            if gone:
                raise SystemExit(f"a Locust worker exited ({gone[0].returncode}) before reporting every ticket")
        runner.quit()
    finally:
        for process in processes:
            if not collect.done.is_set() and process.poll() is None:
                process.terminate()  # the run is given up: nothing more of it may be sent
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def run_worker(port: int) -> None:
    tickets: deque[tuple[int, NewTicket]] = deque()
    target: list[Target] = []
    runner: Any = None

    def on_plan(environment: Environment, msg: Any, **_: Any) -> None:
        target.append(Target(**msg.data["target"]))
        tickets.extend(decode(msg.data["tickets"]))

    env = Environment(user_classes=[ticket_user(tickets, lambda: target[0].api(),
                                                lambda report: runner.send_message("ticket", report))])
    runner = env.create_worker_runner(master_host=LOOPBACK, master_port=port)
    runner.register_message("plan", on_plan)
    runner.send_message("want_plan")
    runner.greenlet.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automation.load.engine")
    parser.add_argument("--worker", type=int, metavar="PORT", help="be a worker of the master on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    if args.worker is not None:
        run_worker(args.worker)
        return 0
    job = json.loads(sys.stdin.read())

    def write(report: Report) -> None:
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()

    target, tickets = Target(**job["target"]), decode(job["tickets"])
    if job["workers"]:
        run_master(target, tickets, job["concurrency"], job["workers"], write)
    else:
        run_local(target, tickets, job["concurrency"], write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
