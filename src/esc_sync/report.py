"""Human-readable summaries of a cycle for the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from esc_sync.worker.cycle import CycleReport


def _short(ts: str | None) -> str:
    """An ISO timestamp shortened for a table cell."""
    return ts.replace("T", " ").removesuffix("Z")[:16] if ts else "-"


def plan_table(report: CycleReport) -> Table:
    """The planned (or applied) escalations as a table."""
    verb = "planned, not sent" if report.dry_run else "applied"
    table = Table(title=f"{report.connector}: escalations {verb}", show_lines=False)
    for col in ("ticket", "subject", "rules", "tier", "respond by", "resolve by", "tasks"):
        table.add_column(col, overflow="fold")
    for row in report.rows:
        tier = f"{row.tier_from or '-'} -> {row.tier_to}" if row.tier_to else (row.tier_from or "-")
        table.add_row(
            str(row.ticket),
            row.subject[:38],
            ", ".join(row.rules),
            tier,
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
    for endpoint, count in sorted(report.calls.items()):
        console.print(f"  {count:5d}  {endpoint}", highlight=False)
