"""The verbs that make what was decided visible: plan diff, audit, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from esc_sync.cli.common import (
    ConfigOpt,
    JsonOpt,
    app,
    clock_now,
    exits,
    out,
    plan_app,
    print_json,
    usage_error,
)


@plan_app.command("diff")
def plan_diff(
    old: Annotated[Path, typer.Argument(help="The plan before (e.g. from main).", exists=True)],
    new: Annotated[
        Path, typer.Argument(help="The plan after (e.g. from the branch).", exists=True)
    ],
    as_json: JsonOpt = False,
) -> None:
    """Compare two plans: which tickets a policy change sends elsewhere."""
    from esc_sync.plans import diff_plans, read_plan, summary_lines

    with exits():
        diff = diff_plans(read_plan(old), read_plan(new))
    if as_json:
        print_json(diff.as_json())
        return
    for line in summary_lines(diff):
        out.print(line, highlight=False, markup=False)
    if diff.changed:
        table = Table(title="planned differently")
        for col in ("ticket", "what", "old", "new"):
            table.add_column(col, overflow="fold")
        for item in diff.changed:
            for what, change in item["changes"].items():
                old_v, new_v = change["old"], change["new"]
                if isinstance(old_v, list) and isinstance(new_v, list):
                    old_v = [v for v in old_v if v not in new_v]  # only what differs
                    new_v = [v for v in change["new"] if v not in change["old"]]
                table.add_row(f"#{item['ticket']}", what, _cell(old_v), _cell(new_v))
        out.print(table)


def _cell(value: Any) -> str:
    """A diff value for a table cell."""
    if isinstance(value, list):
        return escape("; ".join(str(v) for v in value)) or "-"
    return "-" if value is None else escape(str(value))


@app.command("audit")
def audit(
    ticket: Annotated[int | None, typer.Option("--ticket", help="Only this ticket.")] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="Only records naming this rule.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="A duration back (7d, 4h) or an ISO-8601 time.")
    ] = None,
    connector: Annotated[
        str | None, typer.Option("--connector", help="Only this connector.")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Leave out dry-run records.")] = False,
    config: ConfigOpt = Path("config.example.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Query the audit log: what was decided, why, and what was written."""
    from esc_sync.auditq import AuditQuery, describe, parse_since, query
    from esc_sync.config import load_config

    try:
        start = parse_since(since, clock_now()) if since else None
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    with exits():
        cfg = load_config(config, require_secrets=False)
        q = AuditQuery(ticket=ticket, rule=rule, since=start, connector=connector, live_only=live)
        records = query(cfg.audit_path, q)
    if as_json:
        for record in records:
            print(json.dumps(record, default=str, ensure_ascii=False))
        return
    table = Table(title=f"audit log: {cfg.audit_path} ({len(records)} records)")
    for col in ("at", "connector", "ticket", "mode", "what happened"):
        table.add_column(col, overflow="fold")
    for r in records:
        mode = "dry run" if r.get("dry_run") else "live"
        at = str(r.get("at", "")).replace("T", " ").removesuffix("Z")
        table.add_row(at, str(r.get("connector")), str(r.get("ticket")), mode, describe(r))
    out.print(table)
    decided = [r for r in records if r.get("rules")]
    if ticket is not None and decided:
        _print_evidence(decided[-1])


def _print_evidence(record: dict[str, Any]) -> None:
    """The values that made each rule match, for the latest record of one ticket."""
    for match in record.get("rules") or []:
        out.print(f"[bold]{match.get('rule')}[/]: {match.get('name', '')}", highlight=False)
        for e in match.get("evidence") or []:
            seen = " ".join(str(e.get("seen")).split())[:100]
            out.print(
                f"  {e.get('field')} {e.get('op')} {e.get('expected')!r}  seen: {seen}",
                highlight=False,
                markup=False,
            )


@app.command("report")
def report(
    since: Annotated[
        str, typer.Option("--since", help="Period: a duration back (30d) or a time.")
    ] = "30d",
    output: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    config: ConfigOpt = Path("config.example.toml"),
) -> None:
    """Write a self-contained HTML report from the state store and the audit log."""
    from esc_sync.app import load_policy_for
    from esc_sync.auditq import parse_since
    from esc_sync.config import load_config
    from esc_sync.htmlreport import build_report

    now = clock_now()
    try:
        start = parse_since(since, now)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    with exits():
        cfg = load_config(config, require_secrets=False)
        try:
            tiers = [t.id for t in load_policy_for(cfg).tiers]
        except Exception:  # a broken policy must not stop a report of what already happened
            tiers = []
        html, data = build_report(
            state_path=cfg.state_path,
            audit_path=cfg.audit_path,
            now=now,
            since=start,
            tier_order=tiers,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html, encoding="utf-8")
    open_count = sum(len(v) for v in data.open_by_tier.values())
    out.print(
        f"report: {output} ({data.escalations} rules fired on {data.tickets_escalated} tickets "
        f"since {start:%Y-%m-%d}, {open_count} escalations open)",
        highlight=False,
    )
