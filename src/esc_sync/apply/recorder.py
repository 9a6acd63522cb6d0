"""The recorder: audit lines, report rows and dead letters, one shape for every path.

Every outcome (a decision applied, withheld in a dry run or needing no change; a ladder step;
a ticket skipped) is recorded here and nowhere else: one JSON line in the audit log, the
cycle report's counts and rows, and for a skipped ticket a dead letter.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from esc_sync.apply.results import CycleReport, PlannedRow
from esc_sync.model import Deadlines, Decision, Plan
from esc_sync.plan.ticket import TicketPlan
from esc_sync.plan.writes import iso
from esc_sync.state.protocol import DeadLetters

log = structlog.get_logger("esc_sync.worker")


class AuditLog:
    """Appends decision records to a JSON-lines file."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a no-op when no path is configured)."""
        if self.path is None:
            return
        line = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def decision_record(
    *,
    connector: str,
    dry_run: bool,
    episode: int,
    decision: Decision,
    plan: Plan | None,
    outcome: str,
    calls_made: list[str],
    calls_withheld: list[str],
    at: datetime,
    error: str | None = None,
) -> dict[str, Any]:
    """The audit line for one evaluated ticket."""
    record: dict[str, Any] = {
        "at": iso(at),
        "connector": connector,
        "ticket": decision.ticket_id,
        "episode": episode,
        "dry_run": dry_run,
        "rules": [
            {
                "rule": m.rule,
                "name": m.name,
                "escalate_to": m.escalate_to,
                "evidence": [
                    {"field": e.field, "op": e.op, "expected": e.expected, "seen": e.seen}
                    for e in m.evidence
                ],
            }
            for m in decision.matches
        ],
        "already_fired": decision.already_fired,
        "tier_from": decision.current_tier,
        "tier_to": decision.target_tier,
        "deadlines": (
            {
                "respond_by": iso(decision.deadlines.respond_by),
                "resolve_by": iso(decision.deadlines.resolve_by),
                **target_fields(decision.deadlines),
            }
            if decision.deadlines
            else None
        ),
        "planned": plan_summary(plan) if plan is not None else None,
        "calls": {"made": calls_made, "withheld": calls_withheld},
        "outcome": outcome,
    }
    if error:
        record["error"] = error
    return record


def target_fields(deadlines: Deadlines) -> dict[str, Any]:
    """The SLA profile, priority and targets a tier entry's deadlines come from, for the
    audit line (nothing for deadlines without them)."""
    target = deadlines.target
    if target is None:
        return {}
    return {"sla_profile": target.profile, "priority": target.priority, "target": target.describe()}


def plan_summary(plan: Plan) -> dict[str, Any]:
    """A compact, JSON-friendly view of a plan."""
    update = plan.update
    return {
        "markers": plan.markers,
        "tags": list(update.tags) if update and update.tags is not None else None,
        "group": update.group if update else None,
        "priority": update.priority if update else None,
        "status": update.status if update else None,
        "custom_fields": update.custom_fields if update else {},
        "note": bool(update and update.note),
        "customer_message": bool(update and update.customer_message),
        "tasks": [
            {"external_id": t.external_id, "title": t.title, "due_at": iso(t.due_at)}
            for t in plan.tasks
        ],
    }


Outcome = Literal["applied", "dry-run", "no-change"]


class Recorder:
    """Writes what happened to a ticket: the audit line, the report's counts and row."""

    def __init__(self, audit: AuditLog, dead_letters: DeadLetters) -> None:
        self.audit = audit
        self.dead_letters = dead_letters

    def outcome(
        self,
        connector: str,
        report: CycleReport,
        tplan: TicketPlan,
        outcome: Outcome,
        made: list[str],
        withheld: list[str],
        at: datetime,
    ) -> None:
        """A decision or a ladder step: applied, withheld (dry run) or needing no change."""
        decision = tplan.decision
        if decision is None:
            self._ladder(connector, report, tplan, outcome, made, withheld, at)
            return
        plan = tplan.plan if outcome != "no-change" else None
        if decision.matches:
            report.matched += 1
            for m in decision.matches:
                report.rules[m.rule] += 1
            if decision.target_tier and plan is not None and not plan.is_empty():
                report.tiers[decision.target_tier] += 1
        self.audit.write(
            decision_record(
                connector=connector,
                dry_run=report.dry_run,
                episode=tplan.episode,
                decision=decision,
                plan=plan,
                outcome=outcome,
                calls_made=made,
                calls_withheld=withheld,
                at=at,
            )
        )
        if plan is not None:
            report.rows.append(_row(tplan, decision, outcome))

    def _ladder(
        self,
        connector: str,
        report: CycleReport,
        tplan: TicketPlan,
        outcome: Outcome,
        made: list[str],
        withheld: list[str],
        at: datetime,
    ) -> None:
        """A ladder step (reminders or a move up after a missed deadline)."""
        if not tplan.ladder:
            return  # only records were made (adopted markers, moot reminders)
        if outcome == "applied" and tplan.tier_to is not None:
            report.tiers[tplan.tier_to] += 1
        self.audit.write(
            {
                "at": iso(at),
                "connector": connector,
                "ticket": tplan.ticket.id,
                "episode": tplan.episode,
                "dry_run": report.dry_run,
                "ladder": tplan.ladder,
                "tier_from": tplan.tier_from,
                "tier_to": tplan.tier_to,
                "outcome": outcome,
                "calls": {"made": made, "withheld": withheld},
            }
        )
        if outcome == "applied":
            log.info(
                "ladder step applied",
                connector=connector,
                ticket=tplan.ticket.id,
                tier=tplan.tier_from,
                to=tplan.tier_to,
                steps=[key for key, _ in tplan.intents],
            )

    def deferred(
        self,
        connector: str,
        report: CycleReport,
        ticket_id: int,
        reason: str,
        retry_after: datetime,
        at: datetime,
    ) -> None:
        """A ticket whose write failed for now: left to the next cycle, with why and when."""
        report.deferred.append((ticket_id, reason))
        log.warning(
            "ticket deferred to the next cycle",
            connector=connector,
            ticket=ticket_id,
            reason=reason,
            retry_after=iso(retry_after),
        )
        self.audit.write(
            {
                "at": iso(at),
                "connector": connector,
                "ticket": ticket_id,
                "dry_run": report.dry_run,
                "outcome": "deferred",
                "error": reason,
                "retry_after": iso(retry_after),
            }
        )

    def stopped(self, connector: str, report: CycleReport, at: datetime) -> None:
        """A cycle that stopped before the feed's end: how far it got, and why."""
        reason = report.stop_reason or "stopped"
        log.warning("cycle stopped early", connector=connector, pages=report.pages, reason=reason)
        self.audit.write(
            {
                "at": iso(at),
                "connector": connector,
                "dry_run": report.dry_run,
                "outcome": "stopped-early",
                "error": reason,
                "pages": report.pages,
                "tickets_read": report.tickets_read,
            }
        )

    def skipped(
        self,
        connector: str,
        report: CycleReport,
        ticket_id: int | None,
        reason: str,
        at: datetime,
        payload: Any = None,
    ) -> None:
        """A ticket that could not be read or written: a dead letter and an audit line."""
        report.skipped += 1
        log.warning("ticket skipped", connector=connector, ticket=ticket_id, reason=reason)
        self.dead_letters.dead_letter(connector, ticket_id, reason, payload, at)
        self.audit.write(
            {
                "at": iso(at),
                "connector": connector,
                "ticket": ticket_id,
                "dry_run": report.dry_run,
                "outcome": "skipped",
                "error": reason,
            }
        )


def _row(tplan: TicketPlan, decision: Decision, outcome: str) -> PlannedRow:
    """The report row of a planned (or applied) decision."""
    d = decision.deadlines
    return PlannedRow(
        ticket=tplan.ticket.id,
        subject=tplan.ticket.subject,
        rules=[m.rule for m in decision.matches],
        tier_from=decision.current_tier,
        tier_to=decision.target_tier,
        respond_by=iso(d.respond_by) if d else None,
        resolve_by=iso(d.resolve_by) if d else None,
        tasks=len(tplan.plan.tasks),
        outcome=outcome,
        target=d.target.short() if d and d.target else None,
    )
