"""The pure parts of streamed load verification: the id range a chunk is looked for in, and the fingerprint."""

from __future__ import annotations

import zlib

from automation.load import Planned, Requester, Topic
from automation.load_verification import Chunk, Created, Fingerprint, expected_line, lower_bound

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
    assert whole.as_tuple() == (50, sum(zlib.crc32(line.encode()) for line in lines))
    for changed in ("100000|8|10|1", "100000|7|11|1", "100000|7|10|2", "100001|7|10|1"):
        other = Fingerprint()
        for line in [changed, *lines[1:]]:
            other.add(line)
        assert other.as_tuple() != whole.as_tuple(), changed
