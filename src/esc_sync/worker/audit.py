"""The audit log: one JSON line per decision, live or dry, with why and what happened."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from esc_sync.model import Decision, Plan
from esc_sync.worker.planner import iso


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
