"""The final review as HTML: a page of its own (``ostops report --format html``) or sections placed in the
evidence write-up. Jinja2 with autoescape: every value from the scenario or from osTicket is escaped; the
charts are inline SVG, one colour per status and per SLA outcome (`palette`), each with its legend."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from automation.scenarios import palette
from automation.scenarios.report import Report, human_duration

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_NEUTRAL = "#3b78c2"  # bars that are not a status or an outcome (times by agent)
CSS = Markup("""body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eef3fa}
figure{display:inline-block;margin:1em 2em 1em 0}figcaption{font-weight:bold;margin-bottom:.5em}""")


@dataclass
class Bar:
    label: str
    y: int
    length: str
    colour: str
    value_x: str
    value: str


@dataclass
class Chart:
    title: str
    bars: list[Bar]
    legend: dict[str, palette.Colour] = field(default_factory=dict)
    width: int = 560
    bar_height: int = 22
    label_width: int = 170

    @property
    def height(self) -> int:
        return len(self.bars) * (self.bar_height + 8) + 10


def _chart(title: str, values: dict[str, float], unit: str,
           colours: dict[str, palette.Colour] | None = None) -> Chart:
    chart = Chart(title, [], dict(colours or {}))
    top = max(values.values(), default=0) or 1
    for i, (label, value) in enumerate(values.items()):
        y = i * (chart.bar_height + 8) + 5
        length = (chart.width - chart.label_width - 90) * value / top
        colour = colours[label].hex if colours else _NEUTRAL
        chart.bars.append(Bar(label, y, f"{length:.1f}", colour, f"{chart.label_width + length + 6:.1f}",
                              f"{value:g} {unit}".strip()))
    return chart


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["duration"] = human_duration
    return env


def _values(report: Report, level: int, link_tickets: bool = True) -> dict[str, Any]:
    status_colours = palette.colours(palette.STATUS, (t.status for t in report.tickets))
    sla_colours = palette.colours(palette.SLA_OUTCOME, (t.sla_state for t in report.tickets))
    sla_counts = Counter(t.sla_state for t in report.tickets)
    resolution_by_agent = {g.name: round(mean(g.resolution), 1) for g in report.by_agent if g.resolution}
    charts = [_chart("Tickets by status", {k: float(v) for k, v in report.by_status.items()}, "", status_colours),
              _chart("SLA outcome", {k: float(v) for k, v in sorted(sla_counts.items())}, "", sla_colours),
              _chart("Average time to resolution by agent (seconds)", resolution_by_agent, "s")]
    verdict = "Nothing left open." if report.open_count == 0 else f"{report.open_count} ticket(s) still open."
    if report.incomplete:
        verdict += (f" {len(report.incomplete)} ticket(s) incomplete: "
                    + "; ".join(f"#{t.number} ({', '.join(t.incomplete)})" for t in report.incomplete) + ".")
    if report.unconfirmed:
        verdict += (f" {len(report.unconfirmed)} ticket(s) unconfirmed (osTicket holds them, the run was never "
                    "answered for them; no SLA outcome is given): "
                    + ", ".join(f"#{t.number}" for t in report.unconfirmed) + ".")
    return {"r": report, "level": level, "charts": charts, "verdict": verdict, "css": CSS, "link_tickets": link_tickets,
            "status_colours": status_colours, "sla_colours": sla_colours}


def render_html(report: Report) -> str:
    """The review as a page of its own."""
    return _environment().get_template("review.html.j2").render(_values(report, 2))


def review_sections(report: Report, level: int = 2, link_tickets: bool = True) -> str:
    """The review as HTML to place in a page: the verdict, the charts, then the tables. Without
    ``link_tickets`` the numbers are plain text (a write-up whose links must all be relative)."""
    return _environment().get_template("review_sections.html.j2").render(_values(report, level, link_tickets))
