"""The report's "Are we meeting our targets?" part: attainment tables, the weekly trend, and
customer satisfaction of escalated tickets beside the others. Inline HTML and SVG only."""

from __future__ import annotations

from html import escape

from esc_sync.htmlreport import svg
from esc_sync.htmlreport.attainment import RATINGS, Attainment, Satisfaction, TargetsReport

TITLES = {
    "tier": "By tier",
    "priority": "By priority",
    "profile": "By SLA profile",
    "organization": "By organization",
}


def percent(value: float | None) -> str:
    """A rate for a cell: "87%", or "-" when nothing was judged."""
    return "-" if value is None else f"{value:.0f}%"


def kpis(report: TargetsReport) -> list[tuple[str, str]]:
    """Headline figures: (value, label)."""
    return [
        (percent(report.total.respond_rate), "responses on time"),
        (percent(report.total.resolve_rate), "resolutions on time"),
        (percent(report.escalated.score), "CSAT of escalated tickets"),
    ]


def _row(label: str, cell: Attainment) -> str:
    """One group's line: response and resolution attainment with their counts."""
    respond = cell.respond_met + cell.respond_missed
    resolve = cell.resolve_met + cell.resolve_missed
    return (
        f"<tr><td>{escape(label)}</td>"
        f"<td>{percent(cell.respond_rate)} <small>({cell.respond_met}/{respond})</small></td>"
        f"<td>{percent(cell.resolve_rate)} <small>({cell.resolve_met}/{resolve})</small></td>"
        f"<td>{cell.pending}</td></tr>"
    )


def _table(title: str, groups: dict[str, Attainment]) -> str:
    """Attainment of every group of one dimension."""
    head = (
        f"<tr><th>{escape(title)}</th><th>response on time</th><th>resolution on time</th>"
        "<th>not due yet</th></tr>"
    )
    body = "".join(_row(label, cell) for label, cell in groups.items())
    body = body or '<tr><td colspan="4">No tier entry in this period.</td></tr>'
    return f'<table class="attainment">{head}{body}</table>'


def trend(weeks: dict[str, Attainment], width: int = 640, height: int = 180) -> str:
    """Response and resolution attainment per week, as two lines on a 0-100% axis."""
    title = "Attainment per week"
    if not weeks:
        return svg.empty(title, "no tier entry in this period", width)
    left, right, top, bottom = 40, 110, 12, 28
    inner_w, inner_h = width - left - right, height - top - bottom
    labels = list(weeks)
    step = inner_w / max(len(labels) - 1, 1)
    parts = [svg._open(width, height, title, "trend")]
    for pct in (0, 50, 100):
        y = top + inner_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{left}" x2="{left + inner_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {svg.FONT} '
            f'fill="#64748b">{pct}%</text>'
        )
    for i, label in enumerate(labels):
        x = left + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" {svg.FONT} '
            f'fill="#475569">{escape(label)}</text>'
        )
    series = (("response", "respond_rate", svg.color(0)), ("resolution", "resolve_rate", svg.MET))
    for n, (name, attr, colour) in enumerate(series):
        points = [
            (left + i * step, top + inner_h * (1 - rate / 100))
            for i, cell in enumerate(weeks.values())
            if (rate := getattr(cell, attr)) is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        parts.append(
            f'<rect x="{width - right + 12}" y="{top + n * 18}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - right + 28}" y="{top + n * 18 + 9}" '
            f'{svg.FONT} fill="#0f172a">{name}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _satisfaction_row(label: str, side: Satisfaction) -> str:
    """One side of the comparison."""
    total = sum(side.counts.values())
    cells = "".join(
        f"<td>{side.counts[r]} <small>({percent(100 * side.counts[r] / total if total else None)})"
        "</small></td>"
        for r in RATINGS
    )
    return f"<tr><td>{escape(label)}</td>{cells}<td>{percent(side.score)}</td></tr>"


def satisfaction_table(report: TargetsReport) -> str:
    """Ratings of solved tickets, escalated vs not escalated."""
    head = "<tr><th>solved tickets</th><th>good</th><th>bad</th><th>none</th><th>CSAT</th></tr>"
    rows = _satisfaction_row("escalated", report.escalated)
    rows += _satisfaction_row("not escalated", report.others)
    return f'<table class="csat">{head}{rows}</table>'


def section(report: TargetsReport) -> str:
    """The whole part, from its heading."""
    tables = "".join(
        f"<figure><figcaption>{escape(TITLES[dim])}</figcaption>{_table(TITLES[dim], groups)}"
        "</figure>"
        for dim, groups in report.by.items()
    )
    return (
        "<h2>Are we meeting our targets?</h2>"
        '<p class="sub">Deadlines met on time among those judged (a deadline still ahead is '
        "not judged), for the tier entries made in the period.</p>"
        f"<figure><figcaption>Attainment per week</figcaption>{trend(report.weeks)}</figure>"
        f'<div class="grid">{tables}</div>'
        "<h2>Customer satisfaction</h2>"
        '<p class="sub">Ratings of the tickets solved in the period, as the helpdesk reports '
        "them (CSAT: good among rated).</p>"
        f"{satisfaction_table(report)}"
    )
