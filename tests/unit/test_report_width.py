"""`ostops report` in an 80-column terminal: every line fits (the narrow table, `--wide` for every column), and
the chart and the tables write a duration the same way."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from rich.console import Console

from automation.cli import common
from automation.cli.scenario import _print_report
from automation.scenarios.facts import Event
from automation.scenarios.report import build_report
from automation.scenarios.review_html import render_html
from tests.unit.test_report_presentation import PARIS, STAFF, _report
from tests.unit.test_scenarios import T0, facts


def _plain(text: str) -> list[str]:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()


def test_the_report_fits_80_columns_in_a_terminal_that_says_so(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(common, "out", common._Deferred(stderr=False))
    report = _report(("online-banking-down-bank-wide-outage-for-every-customer", "excel", "laptop"))
    report.tickets[0].key = "online-banking-down-bank-wide-outage-for-every-customer"
    _print_report(report, common.out, wide=False)
    lines = _plain(capsys.readouterr().out)
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    text = "\n".join(lines)
    assert "#123456" in text and "#222222" in text and "#333333" in text, "numbers are never cut"
    assert "due (" not in text and "--wide" in text
    assert "Europe/Paris" in " ".join(text.split()), "the time zone sentence is wrapped, not dropped"


def test_wide_keeps_every_column_and_a_wide_terminal_gets_them_anyway() -> None:
    for width, wide in ((80, True), (160, False)):
        buffer = io.StringIO()
        _print_report(_report(), Console(file=buffer, width=width, soft_wrap=True), wide=wide)
        lines = _plain(buffer.getvalue())
        assert max(len(line) for line in lines) <= width
        assert "due" in buffer.getvalue() and "team" in buffer.getvalue()
        assert "--wide" not in buffer.getvalue()


def test_the_chart_and_the_tables_round_a_duration_alike() -> None:
    resolved = T0 + dt.timedelta(seconds=7.5)
    ticket = facts(closed=resolved, events=[Event("created", "SYSTEM", T0, None),
                                            Event("closed", "jane.doe", resolved, '{"status":[2,"Resolved"]}')])
    report = build_report("r1", [ticket], T0 + dt.timedelta(hours=1), PARIS, STAFF, ("online-banking-down",))
    assert report.tickets[0].resolution_s == 7.5
    page = render_html(report)
    chart = page[page.index("Average time to resolution by agent"):]
    assert ">8 s</text>" in chart and "7.5" not in chart
    buffer = io.StringIO()
    _print_report(report, Console(file=buffer, width=160))
    assert "8 s" in buffer.getvalue() and "7.5" not in buffer.getvalue()
