"""Which tickets are a run's: the hidden run field first, the subject tag only for a ticket without one (runs made
before the field), and which query finds them when the run's record is lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from automation.osticket import runfield
from automation.osticket.schema import RUN_FIELD_FLAGS, Tables
from automation.scenarios import facts, purge
from automation.scenarios.facts import run_key, run_tag

RUN, OTHER = "20261206143000-ab12", "20261206143000-ab13"


def test_the_run_field_names_the_run_and_the_key() -> None:
    assert run_key(RUN, runfield.mark(RUN, "excel"), "Excel won't launch") == "excel"
    assert runfield.parse(runfield.mark(RUN, "cfo-laptop")) == (RUN, "cfo-laptop")


def test_a_field_of_another_run_wins_over_a_subject_tag() -> None:
    # A subject a learner wrote can end like a tag; the field says whose ticket it is.
    assert run_key(RUN, runfield.mark(OTHER, "excel"), f"Excel {run_tag(RUN, 'excel')}") is None
    assert run_key(RUN, runfield.mark(OTHER, "excel"), "Excel") is None


def test_the_subject_tag_is_the_fallback_for_a_ticket_without_a_field() -> None:
    for empty in (None, "", "   "):
        assert run_key(RUN, empty, f"Excel & <b> ü 漢字 {run_tag(RUN, 'excel')}") == "excel"
        assert run_key(RUN, empty, f"Excel {run_tag(OTHER, 'excel')}") is None
        assert run_key(RUN, empty, "Excel won't launch") is None


def test_a_run_id_that_merely_starts_like_another_is_not_it() -> None:
    assert run_key(RUN, runfield.mark(RUN + "0", "excel"), "") is None
    assert runfield.parse("garbage") is None and runfield.parse("a b c") is None


def test_the_field_is_hidden_from_requesters_and_agents() -> None:
    from automation.osticket.schema import (
        FIELD_AGENT_EDIT,
        FIELD_AGENT_VIEW,
        FIELD_CLIENT_EDIT,
        FIELD_CLIENT_VIEW,
        FIELD_ENABLED,
    )

    assert RUN_FIELD_FLAGS & FIELD_ENABLED
    assert not RUN_FIELD_FLAGS & (FIELD_CLIENT_VIEW | FIELD_CLIENT_EDIT | FIELD_AGENT_VIEW | FIELD_AGENT_EDIT)


class FakeCursor:
    """Answers the run-field scan with ``marked`` rows and every other SELECT with ``rows``; records the SQL."""

    def __init__(self, log: list[str], marked: list[dict[str, Any]], rows: list[dict[str, Any]],
                 column: bool) -> None:
        self.log, self.marked, self.rows, self.answer, self.column = log, marked, rows, [], column
        self.rowcount = 0

    def execute(self, sql: str, args: Any = None) -> None:
        self.log.append(" ".join(sql.split()))
        if "information_schema.COLUMNS" in self.log[-1]:
            self.answer = [{"n": int(self.column)}]
        elif "FROM `ost_form_field` f JOIN" in self.log[-1] or "`ostops_run` LIKE" in self.log[-1]:
            self.answer = self.marked
        elif self.log[-1].startswith("SELECT tk.ticket_id"):
            self.answer = self.rows
        else:
            self.answer = []

    def fetchall(self) -> list[dict[str, Any]]:
        return list(self.answer)

    def fetchone(self) -> dict[str, Any] | None:
        return self.answer[0] if self.answer else None


class FakeConn:
    def __init__(self, marked: list[dict[str, Any]], rows: list[dict[str, Any]], column: bool = True) -> None:
        self.log: list[str] = []
        self.marked, self.rows, self.column = marked, rows, column

    @contextmanager
    def cursor(self) -> Iterator[FakeCursor]:
        yield FakeCursor(self.log, self.marked, self.rows, self.column)


def _row(ticket_id: int, mark: str | None, subject: str) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "number": str(100000 + ticket_id), "ticket_pid": None, "subject": subject,
            "thread_id": ticket_id, "run_mark": mark}


def test_without_a_record_the_run_field_is_searched_and_the_subjects_are_not() -> None:
    conn = FakeConn([{"ticket_id": 7, "value": runfield.mark(RUN, "excel")}],
                    [_row(7, runfield.mark(RUN, "excel"), "Excel won't launch")])
    found = purge.run_tickets(conn, Tables("ost_"), RUN)
    assert [(t.ticket_id, t.key) for t in found] == [(7, "excel")]
    assert not any("subject LIKE" in sql for sql in conn.log), conn.log
    assert any("tk.ticket_id IN (%s)" in sql for sql in conn.log), conn.log


def test_a_run_made_before_the_field_is_found_by_its_subject_tag() -> None:
    conn = FakeConn([], [_row(3, None, f"Excel {run_tag(RUN, 'excel')}"), _row(4, None, f"X {run_tag(OTHER, 'x')}")])
    found = purge.run_tickets(conn, Tables("ost_"), RUN)
    assert [(t.ticket_id, t.key) for t in found] == [(3, "excel")]
    assert any("cd.subject LIKE" in sql for sql in conn.log), conn.log


def test_read_run_without_a_record_reads_the_marked_tickets_by_id() -> None:
    conn = FakeConn([{"ticket_id": 9, "value": runfield.mark(RUN, "cfo")}], [])
    facts.read_run(conn, Tables("ost_"), RUN)
    selects = [sql for sql in conn.log if sql.startswith("SELECT tk.ticket_id")]
    assert len(selects) == 1 and "tk.ticket_id IN (%s)" in selects[0] and "subject LIKE" not in selects[0]


def test_the_lookup_scans_the_cdata_column_and_the_answers_only_without_it() -> None:
    for column, scanned in ((True, "FROM `ost_ticket__cdata` WHERE `ostops_run` LIKE %s"),
                            (False, "FROM `ost_form_field` f JOIN `ost_form_entry_values` v")):
        conn = FakeConn([{"ticket_id": 9, "value": runfield.mark(RUN, "cfo")},
                         {"ticket_id": 10, "value": runfield.mark(RUN + "0", "cfo")}], [], column)
        assert runfield.run_tickets(conn, Tables("ost_"), RUN) == {9: runfield.mark(RUN, "cfo")}
        assert any(scanned in sql for sql in conn.log), conn.log
