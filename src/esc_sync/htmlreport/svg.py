"""Small inline SVG charts: stacked columns, horizontal bars, met/missed bars. No scripts, no
network: every chart is a self-contained `<svg>` element with a title for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#475569",
    "#ea580c",
)
MET, MISSED, PENDING = "#16a34a", "#dc2626", "#94a3b8"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def color(i: int) -> str:
    """The i-th series colour."""
    return PALETTE[i % len(PALETTE)]


def _open(width: int, height: int, title: str, kind: str) -> str:
    """The opening `<svg>` tag with a title."""
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
    )


def _fit(text: str, limit: int) -> str:
    """Text cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_max(value: int) -> int:
    """A round axis maximum at or above the value."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 5:
            return max(step * ((value + step - 1) // step), step)
    return value


def empty(title: str, message: str, width: int = 640, height: int = 60) -> str:
    """A placeholder chart that says why there is nothing to draw."""
    return (
        _open(width, height, title, "empty")
        + f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8fafc" stroke="#e2e8f0"/>'
        + f'<text x="{width // 2}" y="{height // 2 + 4}" text-anchor="middle" {FONT} '
        + f'fill="#64748b">{escape(message)}</text></svg>'
    )


def stacked_columns(
    title: str,
    categories: Sequence[str],
    series: dict[str, dict[str, int]],
    *,
    width: int = 860,
    height: int = 280,
) -> str:
    """Columns per category (day), stacked by series (rule), with axis, labels and a legend."""
    totals = [sum(s.get(c, 0) for s in series.values()) for c in categories]
    if not categories or not any(totals):
        return empty(title, "no escalations in this period", width)
    left, right, top, bottom = 36, 180, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(totals))
    slot = plot_w / len(categories)
    bar_w = max(min(slot * 0.7, 40), 2)
    parts = [_open(width, height, title, "stacked")]
    for i in range(5):
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="#475569">'
            f"{v:g}</text>"
        )
    label_every = max(1, len(categories) // 10)
    for ci, cat in enumerate(categories):
        x = left + slot * ci + (slot - bar_w) / 2
        y = top + plot_h
        for si, (name, values) in enumerate(series.items()):
            count = values.get(cat, 0)
            if not count:
                continue
            h = plot_h * count / top_value
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color(si)}"><title>{escape(cat)} · {escape(name)}: {count}</title></rect>'
            )
        if ci % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'{FONT} fill="#475569">{escape(cat[5:])}</text>'
            )
    for si, name in enumerate(series):
        y = top + 4 + si * 16
        if y > height - 10:
            break
        parts.append(
            f'<rect x="{width - right + 12}" y="{y}" width="10" height="10" fill="{color(si)}"/>'
            f'<text x="{width - right + 27}" y="{y + 9}" {FONT} fill="#1e293b">'
            f"{escape(_fit(name, 26))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def hbars(title: str, items: Sequence[tuple[str, int]], *, width: int = 440, unit: str = "") -> str:
    """Horizontal bars with labels and values."""
    if not items or not any(v for _, v in items):
        return empty(title, "nothing recorded in this period", width)
    label_w, row_h, top = 178, 22, 6
    height = top * 2 + row_h * len(items)
    plot_w = width - label_w - 50
    biggest = max(v for _, v in items) or 1
    parts = [_open(width, height, title, "hbars")]
    for i, (label, value) in enumerate(items):
        y = top + i * row_h
        w = max(plot_w * value / biggest, 1 if value else 0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" {FONT} fill="#1e293b">'
            f"{escape(_fit(label, 25))}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{color(i)}"><title>{escape(label)}: {value}{unit}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" {FONT} fill="#475569">'
            f"{value}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def met_missed(title: str, rows: Sequence[tuple[str, int, int, int]], *, width: int = 420) -> str:
    """Per tier, one bar split into met / missed / pending, with a legend."""
    if not rows or not any(m + x + p for _, m, x, p in rows):
        return empty(title, "no deadlines recorded in this period", width)
    label_w, row_h, top = 60, 24, 24
    height = top + row_h * len(rows) + 8
    plot_w = width - label_w - 20
    biggest = max(m + x + p for _, m, x, p in rows) or 1
    parts = [_open(width, height, title, "metmissed")]
    for i, (name, fill) in enumerate((("met", MET), ("missed", MISSED), ("pending", PENDING))):
        lx = label_w + i * 80
        parts.append(
            f'<rect x="{lx}" y="4" width="10" height="10" fill="{fill}"/>'
            f'<text x="{lx + 14}" y="13" {FONT} fill="#1e293b">{name}</text>'
        )
    for i, (tier, met, missed, pending) in enumerate(rows):
        y = top + i * row_h
        x = float(label_w)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" {FONT} fill="#1e293b">'
            f"{escape(tier)}</text>"
        )
        for count, fill, word in (
            (met, MET, "met"),
            (missed, MISSED, "missed"),
            (pending, PENDING, "pending"),
        ):
            if not count:
                continue
            w = plot_w * count / biggest
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{fill}"><title>{escape(tier)} {word}: {count}</title></rect>'
            )
            if w > 18:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 15}" text-anchor="middle" {FONT} '
                    f'fill="#ffffff">{count}</text>'
                )
            x += w
    parts.append("</svg>")
    return "".join(parts)
