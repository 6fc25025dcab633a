"""SIGINT and SIGTERM: a request in flight finishes, then the run stops; a second signal, or the grace running
out, stops it at once; exit 130 / 143."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from automation.cli import exit_code_for
from automation.errors import Interrupted
from automation.interrupt import Interruptions


def request(interruptions: Interruptions, *during: Callable[[], object]) -> None:
    """A request in flight: ``during`` is what happens meanwhile."""
    with interruptions.deferred():
        for event in during:
            event()


def test_outside_a_request_a_signal_stops_at_once() -> None:
    with pytest.raises(Interrupted) as info:
        Interruptions().handle(signal.SIGTERM)
    assert (info.value.signum, info.value.name, str(info.value)) == (
        signal.SIGTERM, "SIGTERM", "interrupted by SIGTERM")


def test_a_request_in_flight_finishes_then_the_run_stops() -> None:
    interruptions = Interruptions()
    finished = []
    with pytest.raises(Interrupted) as info:  # the signal arrives mid-request: only noted
        request(interruptions, lambda: interruptions.handle(signal.SIGINT), lambda: finished.append("answered"))
    assert finished == ["answered"] and info.value.signum == signal.SIGINT


def test_a_second_signal_stops_the_request_in_flight() -> None:
    interruptions = Interruptions()
    with pytest.raises(Interrupted) as info:
        request(interruptions, lambda: interruptions.handle(signal.SIGINT),
                lambda: interruptions.handle(signal.SIGTERM), lambda: pytest.fail("the second signal stops it"))
    assert info.value.signum == signal.SIGINT  # the first signal names the interruption


def test_a_request_failing_after_a_signal_ends_as_interrupted_with_its_failure_as_the_cause() -> None:
    interruptions = Interruptions()
    def bad_gateway() -> None:
        raise RuntimeError("HTTP 502")

    with pytest.raises(Interrupted) as info:
        request(interruptions, lambda: interruptions.handle(signal.SIGTERM), bad_gateway)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_without_a_signal_deferred_sections_change_nothing() -> None:
    interruptions = Interruptions()
    with interruptions.deferred(), interruptions.deferred():
        pass
    interruptions.check()
    def fails() -> None:
        raise ValueError("a failure stays a failure")

    with pytest.raises(ValueError, match="stays a failure"):
        request(interruptions, fails)


@pytest.mark.skipif(os.name == "nt", reason="Windows: os.kill(SIGTERM) ends the process (TerminateProcess)")
def test_a_request_that_never_ends_is_cut_off_when_the_grace_is_over() -> None:
    """Real signals: SIGTERM to this process while a 'request' sleeps (a blocking call, as a read from a frozen
    database is); the handlers installed for the block, the previous ones restored after it."""
    before = signal.getsignal(signal.SIGTERM)
    interruptions = Interruptions(grace=0.3)
    started = time.monotonic()
    with interruptions.installed(), pytest.raises(Interrupted) as info:
        request(interruptions, lambda: os.kill(os.getpid(), signal.SIGTERM), lambda: time.sleep(10))
    elapsed = time.monotonic() - started
    assert info.value.signum == signal.SIGTERM
    assert 0.3 <= elapsed < 3, elapsed
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_while_the_run_writes_what_it_did_are_ignored_for_the_grace() -> None:
    interruptions = Interruptions(grace=60)
    with pytest.raises(Interrupted):
        interruptions.handle(signal.SIGINT)
    interruptions.handle(signal.SIGTERM)  # GitHub Actions' SIGTERM 7.5 s after its SIGINT: the files are written
    late = Interruptions(grace=0)
    with pytest.raises(Interrupted):
        late.handle(signal.SIGINT)
    with pytest.raises(Interrupted):
        late.handle(signal.SIGINT)  # the grace is over: a stuck clean-up can still be stopped


def test_signals_map_to_the_shells_exit_codes() -> None:
    assert exit_code_for(Interrupted(signal.SIGINT)) == 130
    assert exit_code_for(Interrupted(signal.SIGTERM)) == 143
    assert exit_code_for(KeyboardInterrupt()) == 130
