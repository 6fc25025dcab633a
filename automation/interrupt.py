"""SIGINT and SIGTERM that let the request in flight finish.

A run acts through HTTP requests that change a help desk; cut one off half-way and nobody knows whether the
ticket, the note or the reply exists. While such a request and its bookkeeping go on (`Interruptions.deferred`)
a first signal is only noted; the request ends, then `Interrupted` is raised. A second signal, or a request
still going ``grace`` seconds after the first, stops at once: CI systems escalate, and the run must write what
it did before the SIGKILL. GitHub Actions cancels a step with SIGINT, then SIGTERM after 7500 ms, then kills
after 2500 ms more (docs.github.com/en/actions/managing-workflow-runs/canceling-a-workflow); ``docker stop``
sends SIGKILL 10 s after SIGTERM by default (docs.docker.com/reference/cli/docker/container/stop/). Outside a
deferred section a signal stops at once. Once stopped, further signals wait ``grace`` seconds: the record and the
--json and --junit files take milliseconds to write, and a half-written one would help nobody."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from automation.errors import Interrupted

GRACE = 5.0  # seconds a request in flight may take to finish after the first signal
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruptions:
    """What the signal handlers noted. Without `installed`, nothing is ever noted: `deferred` and `check` cost
    nothing (a runner used as a library)."""

    def __init__(self, grace: float = GRACE) -> None:
        self.grace = grace
        self.signum: int | None = None
        self._depth = 0
        self._timer: threading.Timer | None = None
        self._raised_at: float | None = None

    def handle(self, signum: int, _frame: FrameType | None = None) -> None:
        if self._raised_at is not None and time.monotonic() - self._raised_at < self.grace:
            return  # the run is writing what it did
        if self.signum is None and self._depth:
            self.signum = signum
            self._timer = threading.Timer(self.grace, _signal_main_thread, [signum])
            self._timer.daemon = True
            self._timer.start()
            return
        self.signum = self.signum or signum
        raise self._interrupted()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A request and its bookkeeping: a signal arriving meanwhile takes effect when it ends."""
        self._depth += 1
        try:
            yield
        except Exception as exc:  # it failed while a signal waited: the signal ends the run, the failure recorded
            if self.signum is not None and self._depth == 1:
                raise self._interrupted() from exc
            raise
        finally:
            self._depth -= 1
        if not self._depth:
            self.check()

    def check(self) -> None:
        """Raise `Interrupted` when a signal was noted."""
        if self.signum is not None:
            raise self._interrupted()

    def _interrupted(self) -> Interrupted:
        assert self.signum is not None
        self._cancel_timer()
        self._raised_at = time.monotonic()
        return Interrupted(self.signum)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @contextmanager
    def installed(self) -> Iterator[Interruptions]:
        """These handlers for SIGINT and SIGTERM while the block runs; the previous ones afterwards."""
        previous: dict[signal.Signals, Any] = {}
        try:
            for signum in SIGNALS:
                previous[signum] = signal.signal(signum, self.handle)
            yield self
        finally:
            self._cancel_timer()
            for known, handler in previous.items():
                signal.signal(known, handler)


def _signal_main_thread(signum: int) -> None:
    """The grace is over: the signal again, to the main thread, so that a blocking read returns (EINTR) and the
    handler stops the run there. Windows has no pthread_kill; its blocking reads end at their own timeout."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signum)
    else:
        _thread.interrupt_main(signal.Signals(signum))
