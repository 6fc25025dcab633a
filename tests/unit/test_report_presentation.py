"""The final review as people read it: distinct colours per status and SLA outcome (terminal and HTML, with
legends), every time with the database server's UTC offset, ticket numbers linking to the staff panel, rows in
the scenario's order, and every value autoescaped."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Self

from rich.console import Console

from automation.cli.scenario import _print_report
from automation.osticket.server_zone import ServerZone, server_clock
from automation.scenarios import palette
from automation.scenarios.facts import Event
from automation.scenarios.report import Report, build_report
from automation.scenarios.review_html import render_html, review_sections
from tests.unit.test_scenarios import T0, facts

PARIS = ServerZone(dt.timedelta(hours=1), "Europe/Paris")
STAFF = "http://127.0.0.1:8080/scp/"


def _report(order: tuple[str, ...] = ("online-banking-down", "excel", "laptop")) -> Report:
    open_ticket = facts(ticket_id=2, number="222222", key="excel", status="Open", state="open", closed=None,
                        agent="john.doe", team=None, events=[Event("created", "SYSTEM", T0, None)],
                        due=T0 + dt.timedelta(hours=4))
    resolved = facts(ticket_id=3, number="333333", key="laptop", status="Resolved", state="closed", sla=None,
                     due=None)
    # given out of order: the report follows the scenario, not the list
    return build_report("r1", [resolved, open_ticket, facts()], T0 + dt.timedelta(hours=5), PARIS, STAFF, order)


def test_each_status_and_each_outcome_has_its_own_colour() -> None:
    for known in (palette.STATUS, palette.SLA_OUTCOME):
        assert len({c.rich for c in known.values()}) == len(known)
        assert len({c.hex for c in known.values()}) == len(known)
    custom = palette.colours(palette.STATUS, ["Open", "Closed", "Waiting on vendor", "On hold"])
    assert len({c.hex for c in custom.values()}) == 4
    assert custom["Open"] == palette.STATUS["Open"]


def test_the_terminal_table_colours_statuses_and_outcomes_and_names_the_zone() -> None:
    buffer = io.StringIO()
    _print_report(_report(), Console(file=buffer, width=200, force_terminal=True, color_system="standard"))
    text = buffer.getvalue()
    # rich's standard codes: blue 34, yellow 33, green 32, red 31, bright black 90 (cells are padded inside)
    for code, word in ((34, "Closed"), (33, "Open"), (32, "Resolved"), (32, "met"), (31, "breached"), (90, "no SLA")):
        assert re.search(rf"\x1b\[{code}m{word} *\x1b\[0m", text), word
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "due (UTC+01:00)" in plain
    assert "2026-11-27 11:00:00+01:00" in plain  # the first ticket's due time, with its offset
    assert "the database server's clock, UTC+01:00 (its time zone: Europe/Paris)" in " ".join(plain.split())
    rows = [line for line in plain.splitlines() if re.search(r"#\d{6}", line)]
    assert [re.search(r"#(\d{6})", r).group(1) for r in rows] == ["123456", "222222", "333333"]


def test_html_charts_use_the_colours_with_a_legend() -> None:
    page = render_html(_report())
    status_chart = page[page.index('aria-label="Tickets by status"'):page.index("</figure>")]
    for status in ("Open", "Closed", "Resolved"):
        hex_ = palette.STATUS[status].hex
        assert re.search(rf'<text[^>]*>{status}</text><rect [^>]*fill="{hex_}"', status_chart), status
        assert f"background:{hex_};vertical-align:middle;margin-right:.3em\"></span>{status}</li>" in status_chart
    sla_chart = page[page.index('aria-label="SLA outcome"'):]
    sla_chart = sla_chart[:sla_chart.index("</figure>")]
    for outcome in ("met", "breached", "no SLA"):
        assert f'fill="{palette.SLA_OUTCOME[outcome].hex}"' in sla_chart
        assert f"</span>{outcome}</li>" in sla_chart
    assert page.count("<svg") == 3
    # the cells carry the same colours
    assert f'background:{palette.SLA_OUTCOME["breached"].hex};color:#fff' in page


def test_html_times_carry_the_offset_and_numbers_link_to_the_staff_panel() -> None:
    page = render_html(_report())
    assert "Generated 2026-11-27 15:00:00+01:00." in page
    assert "Times are the database server&#39;s clock, UTC+01:00 (its time zone: Europe/Paris)" in page
    assert "<th>due (UTC+01:00)</th>" in page and "<td>2026-11-27 14:00:00+01:00</td>" in page
    assert '<a href="http://127.0.0.1:8080/scp/tickets.php?id=2">#222222</a>' in page
    numbers = re.findall(r'tickets\.php\?id=(\d+)">#(\d+)</a>', page)
    assert numbers == [("1", "123456"), ("2", "222222"), ("3", "333333")]


def test_rows_follow_the_scenario_then_creation_order() -> None:
    assert [t.key for t in _report(("laptop", "online-banking-down", "excel")).tickets] == [
        "laptop", "online-banking-down", "excel"]
    assert [t.key for t in _report(()).tickets] == ["online-banking-down", "excel", "laptop"]  # by ticket id


def test_json_names_the_zone_and_the_links() -> None:
    document = json.loads(json.dumps(_report().to_dict(), default=str))
    assert document["timezone"] == {"clock": "database server", "utc_offset": "UTC+01:00", "zone": "Europe/Paris"}
    assert document["tickets"][1]["link"] == "http://127.0.0.1:8080/scp/tickets.php?id=2"
    assert document["tickets"][0]["due"] == "2026-11-27 11:00:00+01:00"


def test_html_is_autoescaped() -> None:
    hostile = facts(subject='<script>alert("x")</script>', status="<b>Held</b>", agent="a&b")
    report = build_report("r<1>", [hostile], T0, staff_url=STAFF)
    for page in (render_html(report), review_sections(report, level=3)):
        assert "<script>" not in page and "<b>Held</b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "&lt;b&gt;Held&lt;/b&gt;" in page and "a&amp;b" in page
    assert "<title>ostops final review - run r&lt;1&gt;</title>" in render_html(report)
    assert "<h3>Tickets</h3>" in review_sections(report, level=3)


class _Cursor:
    def __init__(self, row: dict[str, object]) -> None:
        self.row = row

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def execute(self, sql: str) -> None:
        assert "UTC_TIMESTAMP()" in sql

    def fetchone(self) -> dict[str, object]:
        return self.row


class _Conn:
    def __init__(self, row: dict[str, object]) -> None:
        self.row = row

    def cursor(self) -> _Cursor:
        return _Cursor(self.row)


def test_the_server_zone_is_its_offset_and_its_name() -> None:
    now, zone = server_clock(_Conn({"now": T0, "offset_s": 19799, "tz": "SYSTEM", "system_tz": "IST"}))
    assert now == T0 and zone.label == "UTC+05:30" and zone.name == "SYSTEM (IST)"
    _, west = server_clock(_Conn({"now": T0, "offset_s": -18000, "tz": "-05:00", "system_tz": "UTC"}))
    assert west.label == "UTC-05:00" and west.name == "-05:00"
    assert west.aware(T0).isoformat() == "2026-11-27T10:00:00-05:00"


def test_the_evidence_write_up_keeps_its_links_relative() -> None:
    embedded = review_sections(_report(), level=3, link_tickets=False)
    assert "<a " not in embedded and "<td>#222222</td>" in embedded
    assert 'href="http://127.0.0.1:8080/scp/tickets.php?id=2"' in review_sections(_report())
