"""Issue 14: reconciliation after a load run asks a database that is down a bounded number of times, within a
bounded wait, and then says how to reconcile later."""

import time

from automation.errors import DatabaseError
from automation.load.reconcile import reconcile
from automation.osticket.schema import Tables


def test_a_database_that_never_answers_is_asked_a_bounded_number_of_times_within_the_wait():
    calls = []

    def connect():
        calls.append(time.monotonic())
        raise DatabaseError("cannot connect to osTicket's database at 127.0.0.1:3306/osticket as osticket: down")

    started = time.monotonic()
    id_range, lines = reconcile(connect, Tables("ost_"), "r1", 10, {"1"}, attempts=4, wait=0.4)
    assert time.monotonic() - started < 1.0
    assert 2 <= len(calls) <= 4
    assert id_range is None
    assert lines == [("not reconciled: cannot connect to osTicket's database at 127.0.0.1:3306/osticket as "
                     "osticket: down; tickets of this run may exist unnamed: `ostops report --run r1` names them "
                     "once the database answers")]
