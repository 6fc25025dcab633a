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


def test_a_load_run_not_reconciled_is_recorded_open_above_the_newest_ticket_before_it(tmp_path):
    """Issue 19: a half-written ticket (no subject, so no tag) of a load run whose database was down when it ended
    is read by id range, not subject: the record keeps the range open above the newest ticket before the run."""
    from collections import Counter

    from automation.load.run import LoadResult, save_load_record
    from automation.scenarios.record import load_record
    from automation.workspace import Workspace

    workspace = Workspace(tmp_path / "instance.json")
    result = LoadResult("20261206120000-abcd", 300, 4, 12.0, Counter({"no answer": 2}), after_ticket_id=324)
    result.unconfirmed = ["not reconciled: …"]
    assert result.to_dict()["id_range"] == [324, 324] and result.to_dict()["id_range_open"] is True
    save_load_record(workspace, result, None)
    record = load_record(workspace, result.run_id)
    assert record is not None and record.id_range == (324, None)  # every ticket above 324, once it answers

    result.id_range = (324, 330)  # reconciled: closed
    save_load_record(workspace, result, None)
    record = load_record(workspace, result.run_id)
    assert record is not None and record.id_range == (324, 330)
