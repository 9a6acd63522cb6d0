"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, no network."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from esc_sync.durations import format_duration
from esc_sync.htmlreport import svg, targets_page
from esc_sync.htmlreport.data import DeadlineTally, OpenTicket, ReportData
from esc_sync.plan.writes import iso

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 960px; color: #0f172a;
       background: #ffffff; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.sub { color: #64748b; font-size: 13px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.kpi { flex: 1; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }
.kpi b { display: block; font-size: 24px; } .kpi span { color: #64748b; font-size: 12px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; }
th { color: #475569; font-weight: 600; } .late { color: #dc2626; font-weight: 600; }
.note { color: #92400e; background: #fffbeb; border: 1px solid #fde68a; border-radius: 6px;
        padding: 6px 10px; font-size: 12px; margin: 6px 0; }
figure { margin: 0; } figcaption { font-size: 12px; color: #475569; margin-bottom: 4px; }
"""


def _kpi(value: str, label: str) -> str:
    """One headline figure."""
    return f'<div class="kpi"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _figure(caption: str, chart: str) -> str:
    """A chart with its caption."""
    return f"<figure><figcaption>{escape(caption)}</figcaption>{chart}</figure>"


def _tally_rows(tallies: dict[str, DeadlineTally]) -> list[tuple[str, int, int, int]]:
    """Met/missed/pending rows for the chart."""
    return [(tier, t.met, t.missed, t.pending) for tier, t in tallies.items()]


def _duration(delta: timedelta | None) -> str:
    """A duration for people: "1d4h", or "-" when unknown."""
    if delta is None:
        return "-"
    if delta < timedelta(minutes=1):
        return "< 1m"
    return format_duration(timedelta(seconds=round(delta.total_seconds() / 60) * 60))


def _when(moment: datetime | None) -> str:
    """A time for a table cell."""
    return (iso(moment) or "-").replace("T", " ").removesuffix("Z")[:16]


def _open_table(tier: str, tickets: list[OpenTicket], now: datetime) -> str:
    """The open tickets at one tier."""
    rows = []
    for o in tickets:
        late = o.next_deadline is not None and o.next_deadline < now
        due = _when(o.next_deadline) + (f" ({o.deadline_kind})" if o.deadline_kind else "")
        rows.append(
            f"<tr><td>#{o.ticket}</td><td>{escape(o.subject[:70])}</td>"
            f"<td>{escape(o.connector)}</td><td>{_when(o.escalated_at)}</td>"
            f'<td class="{"late" if late else ""}">{escape(due)}{" overdue" if late else ""}</td>'
            "</tr>"
        )
    return (
        f"<h3>{escape(tier)}: {len(tickets)} open</h3><table><tr><th>ticket</th><th>subject</th>"
        "<th>connector</th><th>escalated</th><th>next deadline (UTC)</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _messages_table(messages: dict[str, dict[str, int]]) -> str:
    """Messages to people per channel: sent, tried again later, failed (dead-lettered)."""
    if not messages:
        return "<p>No message was sent to a channel in this period.</p>"
    head = "<tr><th>channel</th><th>sent</th><th>tried again later</th><th>failed</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(channel)}</td><td>{per.get('sent', 0)}</td>"
        f"<td>{per.get('retrying', 0)}</td><td>{per.get('failed', 0)}</td></tr>"
        for channel, per in sorted(messages.items())
    )
    return f'<table class="messages">{head}{rows}</table>'


def render_page(data: ReportData, *, title: str = "esc-sync escalation report") -> str:
    """The whole page."""
    open_count = sum(len(v) for v in data.open_by_tier.values())
    missed = sum(t.missed for t in data.resolution.values())
    kpis = "".join(
        [
            _kpi(str(data.escalations), "rules fired (live)"),
            _kpi(str(data.tickets_escalated), "tickets escalated"),
            _kpi(str(open_count), "escalated tickets still open"),
            _kpi(_duration(data.median_resolve()), "median time to resolve"),
            _kpi(str(missed), "resolution deadlines missed"),
            *(_kpi(value, label) for value, label in targets_page.kpis(data.targets)),
        ]
    )
    response = (
        svg.met_missed("Response deadlines", _tally_rows(data.response))
        if data.response is not None
        else svg.empty("Response deadlines", "first responses are not recorded yet", 420)
    )
    themes = "".join(
        [
            _figure("Top rules", svg.hbars("Top rules", data.top_rules)),
            _figure("Top tags on escalated tickets", svg.hbars("Top tags", data.top_tags)),
            _figure("Top organizations", svg.hbars("Top organizations", data.top_orgs)),
            _figure(
                "Repeat requesters (tickets in the period)",
                svg.hbars("Repeat requesters", data.repeat_requesters),
            ),
        ]
    )
    open_tables = (
        "".join(_open_table(tier, items, data.now) for tier, items in data.open_by_tier.items())
        or "<p>No escalated ticket is open.</p>"
    )
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in data.notes)
    if data.dry_records:
        notes += (
            f'<p class="note">{data.dry_records} dry-run decisions in this period are not '
            "counted (nothing was written for them).</p>"
        )
    over_time = _figure(
        "Rules fired per day, stacked by rule",
        svg.stacked_columns("Escalations per day", data.days, data.per_day),
    )
    resolution = svg.met_missed("Resolution deadlines", _tally_rows(data.resolution))
    charts = "".join(
        [
            _figure("Escalations by target tier", svg.hbars("By tier", list(data.by_tier.items()))),
            _figure(
                "Time to resolve escalated tickets",
                svg.hbars("Time to resolve", data.resolve_histogram()),
            ),
            _figure("Response deadlines met vs missed, per tier", response),
            _figure("Resolution deadlines met vs missed, per tier", resolution),
        ]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="sub">{_when(data.since)} to {_when(data.now)} UTC · generated from the state store
and the audit log</p>
<div class="kpis">{kpis}</div>
{notes}
<h2>Escalations over time</h2>
{over_time}
<div class="grid">
{charts}
</div>
{targets_page.section(data.targets)}
<h2>Messages to people</h2>
{_messages_table(data.messages)}
<h2>Recurring themes</h2>
<div class="grid">{themes}</div>
<h2>Open escalations by tier</h2>
{open_tables}
</body></html>
"""
