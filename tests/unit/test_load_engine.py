"""The Locust wiring of `ostops load` (automation/load/engine.py), against a stand-in ticket API on loopback.

The engine runs in its own process (Locust monkey-patches the standard library with gevent on import), so it
is driven here as `create_tickets` drives it: a job on stdin, one JSON line per ticket on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from automation.load.plan import Planned, load_message
from automation.osticket.directory import Topic, User

KEY = "K" * 32


class FakeApi(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    lock = threading.Lock()
    hang, hung, release = threading.Event(), threading.Event(), threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("X-API-Key") != KEY:
            self._answer(401, b"Valid API key required")
            return
        if body["subject"] == "Load ticket 5" and self.hang.is_set():
            self.hung.set()
            self.release.wait(60)
        if body["subject"] == "Load ticket 3":
            self._answer(400, b"Unable to create ticket: Email is a required field")
            return
        with self.lock:
            self.received.append(body)
            number = str(100000 + len(self.received))
        self._answer(201, number.encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (FakeApi,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


def planned(count: int) -> list[Planned]:
    topic = Topic(5, "Réseau & <VPN>", None)
    return [Planned(i, User(f"Zoë O'Brien {i}", f"zoe{i}@example.com"), topic, 2) for i in range(count)]


def run_engine(base_url: str, count: int, workers: int, key: str = KEY) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from automation.load.run import new_ticket

    job = {"target": {"base_url": base_url, "api_key": key}, "concurrency": 3, "workers": workers,
           "tickets": [[item.index, asdict(new_ticket(item, "20990101-000000-abcd"))] for item in planned(count)]}
    done = subprocess.run([sys.executable, "-m", "automation.load.engine"], input=json.dumps(job),
                          capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("workers", [0, 2])
def test_every_planned_ticket_is_sent_once_and_reported(api: tuple[str, list[dict[str, Any]]], workers: int) -> None:
    base_url, received = api
    reports = run_engine(base_url, 12, workers)
    assert "start" in reports[0]
    tickets = reports[1:]
    assert sorted(r["i"] for r in tickets) == list(range(12))  # each once, none lost between the processes
    failed = [r for r in tickets if "kind" in r]
    assert [(r["i"], r["kind"]) for r in failed] == [(3, "HTTP 400")]
    assert "Email is a required field" in failed[0]["message"]  # osTicket's own words
    ok = [r for r in tickets if "number" in r]
    assert sorted(r["number"] for r in ok) == sorted(str(100001 + n) for n in range(11))
    assert all(reports[0]["start"] <= r["sent"] <= r["answered"] for r in ok)
    # The user class sends what the plan says, as the ticket API takes it.
    by_subject = {body["subject"]: body for body in received}
    body = by_subject["Load ticket 7"]  # as written, no run tag: the run goes in the hidden run field
    assert body["ostops_run"] == "20990101-000000-abcd load-7"
    assert (body["name"], body["email"], body["priority"], body["topicId"]) == ("Zoë O'Brien 7", "zoe7@example.com",
                                                                               2, 5)
    assert body["message"] == load_message(7, "20990101-000000-abcd")
    assert body["alert"] is False and body["autorespond"] is False


def test_a_refused_key_is_reported_per_ticket_and_never_printed(api: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, received = api
    reports = run_engine(base_url, 3, 0, key="0" * 32)
    assert [r["kind"] for r in reports[1:]] == ["HTTP 401"] * 3
    assert received == []
    assert "0" * 32 not in json.dumps(reports)


def test_the_ostops_process_never_imports_locust() -> None:
    """The verifier's thread and its MariaDB connection stay plain threads and sockets: gevent's patching
    happens only in the engine's process."""
    probe = ("import sys, automation.load.run, automation.cli.load; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_a_worker_gone_mid_run_ends_the_engine_instead_of_waiting_forever(
        api: tuple[str, list[dict[str, Any]]]) -> None:
    from dataclasses import asdict

    import psutil  # installed with Locust

    from automation.load.run import new_ticket

    base_url, _ = api
    FakeApi.hang.set()
    try:
        job = {"target": {"base_url": base_url, "api_key": KEY}, "concurrency": 2, "workers": 2,
               "tickets": [[item.index, asdict(new_ticket(item, "20990101-000000-abcd"))] for item in planned(8)]}
        engine = subprocess.Popen([sys.executable, "-m", "automation.load.engine"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert engine.stdin is not None
        engine.stdin.write(json.dumps(job))
        engine.stdin.close()
        assert FakeApi.hung.wait(90), "ticket 5 never arrived"
        workers = psutil.Process(engine.pid).children()
        assert len(workers) == 2
        for worker in workers:  # the one holding ticket 5 among them
            worker.kill()
        engine.wait(timeout=60)
        assert engine.stdout is not None
        assert engine.stderr is not None
        out, err = engine.stdout.read(), engine.stderr.read()
    finally:
        FakeApi.release.set()
        FakeApi.hang.clear()
    assert engine.returncode != 0
    assert "a Locust worker exited" in err
    reported = {json.loads(line).get("i") for line in out.splitlines()}
    assert 5 not in reported  # never answered: the ostops process names it as not reported
