"""The pure parts of streamed load verification: the id range a chunk is looked for in, and the fingerprint."""

from __future__ import annotations

import socket
import time
import zlib
from typing import Self

import pymysql
import pytest
from pydantic import SecretStr

from automation.instance import DatabaseAccess, Instance, Login
from automation.load.plan import Planned
from automation.load.verification import Chunk, Created, Fingerprint, RunVerifier, expected_line, lower_bound
from automation.osticket.db import Tables, connect
from automation.osticket.directory import Topic
from automation.osticket.directory import User as Requester

KAREN = Requester("Karen Doe", "Karen.Doe@example.com", user_id=7)
PROBLEM = Topic(10, "Report a Problem", expected_sla_id=1)


def created(index: int, sent: float, answered: float) -> Created:
    return Created(Planned(index, KAREN, PROBLEM, 2), f"{100000 + index}", sent, answered)


def chunk(taken_at: float, max_id: int | None, matched: bool = True, sent: float = 0.0) -> Chunk:
    return Chunk([created(0, sent, taken_at)], taken_at, max_id, matched)


def test_the_first_chunk_is_looked_for_above_the_newest_ticket_from_before_the_run() -> None:
    assert lower_bound([], chunk(5.0, None, sent=1.0), after_ticket_id=40) == 40


def test_a_chunk_taken_before_the_first_request_was_sent_bounds_the_next() -> None:
    checked = [chunk(1.0, 50), chunk(2.0, 60)]
    later = Chunk([created(1, 2.5, 3.0), created(2, 2.1, 2.9)], 3.1)
    assert lower_bound(checked, later, after_ticket_id=40) == 60


def test_a_request_in_flight_when_a_chunk_was_taken_keeps_that_chunk_out_of_the_bound() -> None:
    checked = [chunk(1.0, 50), chunk(2.0, 60)]
    # Sent at 1.9, before the second chunk was taken at 2.0: its id may be below that chunk's.
    later = Chunk([created(1, 2.5, 3.0), created(2, 1.9, 2.9)], 3.1)
    assert lower_bound(checked, later, after_ticket_id=40) == 50


def test_chunks_that_differed_or_found_nothing_give_no_bound() -> None:
    checked = [chunk(1.0, 50), chunk(2.0, 70, matched=False), chunk(2.5, None)]
    assert lower_bound(checked, chunk(4.0, None, sent=3.0), after_ticket_id=40) == 50


def test_expected_line_is_what_the_fingerprint_query_writes() -> None:
    item = Planned(3, KAREN, PROBLEM, 2)
    assert expected_line("123456", item, by_user_id=True) == "123456|7|10|1"
    assert expected_line("123456", item, by_user_id=False) == "123456|karen.doe@example.com|10|1"
    no_sla = Planned(3, KAREN, Topic(11, "General", expected_sla_id=None), 2)
    assert expected_line("123456", no_sla, by_user_id=True) == "123456|7|11|0"
    no_topic = Planned(3, KAREN, None, 2)
    assert expected_line("123456", no_topic, by_user_id=True) == "123456|7|0|-1"


def test_fingerprint_changes_with_any_one_line() -> None:
    lines = [f"{n}|7|10|1" for n in range(100000, 100050)]
    whole = Fingerprint()
    for line in lines:
        whole.add(line)
    assert whole.count == 50
    for changed in ("100000|8|10|1", "100000|7|11|1", "100000|7|10|2", "100001|7|10|1"):
        other = Fingerprint()
        for line in [changed, *lines[1:]]:
            other.add(line)
        assert other.as_tuple() != whole.as_tuple(), changed


def test_the_same_mistake_in_two_tickets_cannot_cancel_out() -> None:
    """CRC-32 is affine: the same wrong SLA in two lines flips the same bits in both CRCs, and for some pairs
    the sum is unchanged. The fingerprint's hash must tell such a pair apart."""
    def crc_delta(number: int) -> int:
        return zlib.crc32(f"{number}|7|10|3".encode()) - zlib.crc32(f"{number}|7|10|1".encode())

    seen: dict[int, int] = {}
    pair = None
    for number in range(100000, 400000):
        delta = crc_delta(number)
        if -delta in seen:
            pair = (seen[-delta], number)
            break
        seen.setdefault(delta, number)
    assert pair is not None, "a pair whose CRC-32 sum hides the mistake exists among these numbers"
    right, wrong = Fingerprint(), Fingerprint()
    for number in pair:
        right.add(f"{number}|7|10|1")
        wrong.add(f"{number}|7|10|3")
    crc_sums = [sum(zlib.crc32(f"{n}|7|10|{sla}".encode()) for n in pair) for sla in (1, 3)]
    assert crc_sums[0] == crc_sums[1]  # what a CRC-32 sum would have missed
    assert right.as_tuple() != wrong.as_tuple()


class _UnreachableDatabase:
    """A connection whose server has gone: every statement and every attempt to reconnect fails."""

    def cursor(self) -> Self:
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, *args: object) -> None:
        raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    def ping(self, reconnect: bool = False) -> None:
        raise pymysql.err.OperationalError(2003, "Can't connect to server on '127.0.0.1'")


def nothing_listening_on() -> Instance:
    with socket.socket() as probe:  # a port that was free a moment ago: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return Instance(kind="local", url="http://127.0.0.1:8080", osticket_version="1.18.1",
                    api_key=SecretStr("A" * 32), admin=Login(username="a", password=SecretStr("b")),
                    db=DatabaseAccess(host="127.0.0.1", port=port, name="osticket", user="osticket",
                                      password=SecretStr("c")))


def test_a_database_that_stays_gone_gives_a_verdict_that_says_why() -> None:
    gone = nothing_listening_on()
    verifier = RunVerifier(_UnreachableDatabase(), Tables("ost_"), after_ticket_id=40, by_user_id=True,
                           interval=0.01, reopen=lambda: connect(gone))
    with verifier.running():
        for index in range(3):
            verifier.add(created(index, 1.0, 2.0))
        time.sleep(0.1)  # the background check fails on the lost connection
    verdict = verifier.finish()
    assert verdict.verified == 0 and verdict.mismatches == []
    assert verdict.error is not None
    assert verdict.error.startswith(f"cannot connect to osTicket's database at 127.0.0.1:{gone.db.port}/osticket")
    assert "password" not in verdict.error and "'c'" not in verdict.error


def test_without_a_way_to_reconnect_the_check_is_tried_once_more_on_the_same_connection() -> None:
    verifier = RunVerifier(_UnreachableDatabase(), Tables("ost_"), after_ticket_id=40, by_user_id=True)
    verifier.add(created(0, 1.0, 2.0))
    verdict = verifier.finish()
    assert verdict.verified == 0
    assert verdict.error == "osTicket's database refused a statement: Lost connection to server during query"


def test_finish_refuses_to_share_the_connection_with_the_background_thread() -> None:
    verifier = RunVerifier(_UnreachableDatabase(), Tables("ost_"), after_ticket_id=40, by_user_id=True)
    with verifier.running(), pytest.raises(RuntimeError, match="after running"):
        verifier.finish()
