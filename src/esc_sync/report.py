"""Human-readable summaries of a cycle for the terminal (rich)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from esc_sync.apply.results import CycleReport


def _short(ts: str | None) -> str:
    """An ISO timestamp shortened for a table cell."""
    return ts.replace("T", " ").removesuffix("Z")[:16] if ts else "-"


def plan_table(report: CycleReport) -> Table:
    """The planned (or applied) escalations as a table."""
    verb = "planned, not sent" if report.dry_run else "applied"
    table = Table(title=f"{report.connector}: escalations {verb}", show_lines=False)
    for col in (
        "ticket",
        "subject",
        "rules",
        "tier",
        "target",
        "respond by",
        "resolve by",
        "tasks",
    ):
        table.add_column(col, overflow="fold")
    for row in report.rows:
        tier = f"{row.tier_from or '-'} -> {row.tier_to}" if row.tier_to else (row.tier_from or "-")
        table.add_row(
            str(row.ticket),
            row.subject[:38],
            ", ".join(row.rules),
            tier,
            row.target or "-",
            _short(row.respond_by),
            _short(row.resolve_by),
            str(row.tasks),
        )
    return table


def print_report(console: Console, report: CycleReport) -> None:
    """Print the plan table and the cycle's figures."""
    if report.rows:
        console.print(plan_table(report))
    calls = sum(report.calls.values())
    console.print(
        f"{report.connector}: read {report.tickets_read} tickets in {report.pages} pages; "
        f"{report.matched} matched a rule; {report.updates} ticket updates, "
        f"{report.tasks_created} tasks created; {report.skipped} skipped, "
        f"{report.conflicts} conflicts; {calls} API calls"
        + (" (dry run: no writes sent)" if report.dry_run else ""),
        highlight=False,
    )
    if report.rules:
        per_rule = ", ".join(f"{rule} {n}" for rule, n in report.rules.most_common())
        console.print(f"  per rule: {per_rule}", highlight=False)
    if report.tiers:
        per_tier = ", ".join(f"{tier} {n}" for tier, n in sorted(report.tiers.items()))
        console.print(f"  per tier: {per_tier}", highlight=False)
    for endpoint, count in sorted(report.calls.items()):
        console.print(f"  {count:5d}  {endpoint}", highlight=False)
    if report.deferred:
        console.print(
            f"  {len(report.deferred)} tickets deferred to the next cycle (their writes failed "
            "for now; the ledger keeps them, recovery retries them):",
            highlight=False,
        )
        for ticket_id, reason in report.deferred:
            console.print(f"    #{ticket_id}: {reason}", highlight=False)
    if report.stopped_early:
        console.print(
            f"  stopped early: {report.stop_reason or 'stopped'} (run again to finish)",
            highlight=False,
        )


def summary_table(reports: Sequence[CycleReport], records: Iterable[dict[str, Any]]) -> Table:
    """The end-of-run summary: tickets read, decisions, per rule, per tier, writes planned."""
    outcomes: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    for record in records:
        outcomes[str(record.get("outcome"))] += 1
        calls = record.get("calls") or {}
        for call in [*(calls.get("withheld") or []), *(calls.get("made") or [])]:
            writes[_write_kind(str(call))] += 1
    rules: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for report in reports:
        rules.update(report.rules)
        tiers.update(report.tiers)
    dry = all(r.dry_run for r in reports)
    table = Table(title="summary" + (" (dry run: nothing was written)" if dry else ""))
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("tickets read", str(sum(r.tickets_read for r in reports)))
    table.add_row("pages", str(sum(r.pages for r in reports)))
    for outcome, n in sorted(outcomes.items()):
        table.add_row(f"decisions: {outcome}", str(n))
    table.add_row("tickets matching a rule", str(sum(r.matched for r in reports)))
    for rule, n in rules.most_common():
        table.add_row(f"  rule {rule}", str(n))
    for tier, n in sorted(tiers.items()):
        table.add_row(f"  to tier {tier}", str(n))
    verb = "planned" if dry else "made"
    for kind in ("ticket updates", "public replies", "tasks"):
        table.add_row(f"writes {verb}: {kind}", str(writes[kind]))
    table.add_row("tickets deferred to the next cycle", str(sum(len(r.deferred) for r in reports)))
    table.add_row("API calls", str(sum(sum(r.calls.values()) for r in reports)))
    return table


def _write_kind(call: str) -> str:
    """`PUT ticket 7` -> ticket updates; `... (public reply)` -> public replies; tasks."""
    if call.startswith("POST task"):
        return "tasks"
    return "public replies" if "(public reply)" in call else "ticket updates"
