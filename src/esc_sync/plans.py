"""Plans as JSON files (`run --dry-run --plan-out`) and their comparison (`plan diff OLD NEW`).

A plan file lists, per ticket, what the worker would write: the rules that fired, the tier from
and to, the deadlines, the tags and the follow-up tasks. Two plan files made from the same tickets
with two versions of the policy show what a policy change would do before it goes live.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from esc_sync.errors import ConfigError
from esc_sync.plan.writes import iso

PLAN_FORMAT = "esc-sync-plan/1"


def plan_entry(record: dict[str, Any], subject: str = "") -> dict[str, Any]:
    """One ticket's planned writes, from its audit record."""
    planned = record.get("planned") or {}
    return {
        "connector": record.get("connector"),
        "ticket": record.get("ticket"),
        "subject": subject,
        "rules": [r.get("rule") for r in record.get("rules") or []],
        "tier_from": record.get("tier_from"),
        "tier_to": record.get("tier_to"),
        "deadlines": record.get("deadlines"),
        "tags": planned.get("tags"),
        "priority": planned.get("priority"),
        "group": planned.get("group"),
        "tasks": [
            {"title": t.get("title"), "due_at": t.get("due_at")} for t in planned.get("tasks") or []
        ],
        "writes": (record.get("calls") or {}).get("withheld") or [],
        "messages": [
            w for w in (record.get("calls") or {}).get("withheld") or [] if w.startswith("NOTIFY ")
        ],
    }


def plan_document(
    records: Iterable[dict[str, Any]],
    subjects: dict[tuple[str, int], str],
    *,
    generated_at: datetime,
    policy: str,
) -> dict[str, Any]:
    """The plan file: every ticket with a non-empty plan, in ticket order."""
    tickets = [
        plan_entry(r, subjects.get((str(r.get("connector")), int(r.get("ticket") or 0)), ""))
        for r in records
        if r.get("planned") is not None and r.get("outcome") in ("dry-run", "applied")
    ]
    tickets.sort(key=lambda e: (str(e["connector"]), int(e["ticket"] or 0)))
    return {
        "format": PLAN_FORMAT,
        "generated_at": iso(generated_at),
        "policy": policy,
        "tickets": tickets,
    }


def write_plan(path: Path, document: dict[str, Any]) -> None:
    """Write a plan file (pretty JSON, stable order, for review in a pull request)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_plan(path: Path) -> dict[str, Any]:
    """Read and check a plan file; ConfigError (exit 1) when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable plan file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise ConfigError(f'{path}: not a plan file (expected "format": "{PLAN_FORMAT}")')
    if not isinstance(doc.get("tickets"), list):
        raise ConfigError(f'{path}: "tickets" must be a list')
    return doc


@dataclass(slots=True)
class PlanDiff:
    """What changes between two plans, by tier, by rule, and by ticket."""

    into_tier: dict[str, list[int]] = field(default_factory=dict)  # more tickets would go here
    out_of_tier: dict[str, list[int]] = field(default_factory=dict)  # these would no longer
    rule_added: dict[str, list[int]] = field(default_factory=dict)
    rule_removed: dict[str, list[int]] = field(default_factory=dict)
    new_tickets: list[int] = field(default_factory=list)  # planned now, not before
    dropped_tickets: list[int] = field(default_factory=list)  # planned before, not now
    changed: list[dict[str, Any]] = field(default_factory=list)  # planned in both, differently
    unchanged: int = 0

    def is_empty(self) -> bool:
        """True when both plans write the same things."""
        return not (self.new_tickets or self.dropped_tickets or self.changed)

    def as_json(self) -> dict[str, Any]:
        """The diff for machines (`--json`)."""
        return {
            "more_to_tier": self.into_tier,
            "no_longer_to_tier": self.out_of_tier,
            "rule_fires_on_more": self.rule_added,
            "rule_fires_on_fewer": self.rule_removed,
            "new_tickets": self.new_tickets,
            "dropped_tickets": self.dropped_tickets,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }


def _key(entry: dict[str, Any]) -> tuple[str, int]:
    """A ticket's identity across plans."""
    return str(entry.get("connector")), int(entry.get("ticket") or 0)


def _fields(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The comparable parts of a plan entry (an absent entry plans nothing)."""
    if entry is None:
        return {"tier_to": None, "rules": [], "tags": [], "priority": None, "tasks": []}
    return {
        "tier_to": entry.get("tier_to"),
        "rules": sorted(entry.get("rules") or []),
        "tags": sorted(entry.get("tags") or []),
        "priority": entry.get("priority"),
        "tasks": sorted(str(t.get("title")) for t in entry.get("tasks") or []),
    }


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    """Compare two plan documents ticket by ticket."""
    before = {_key(e): e for e in old["tickets"]}
    after = {_key(e): e for e in new["tickets"]}
    result = PlanDiff()
    into: dict[str, list[int]] = defaultdict(list)
    out: dict[str, list[int]] = defaultdict(list)
    added: dict[str, list[int]] = defaultdict(list)
    removed: dict[str, list[int]] = defaultdict(list)
    for key in sorted(before.keys() | after.keys()):
        ticket = key[1]
        a, b = _fields(before.get(key)), _fields(after.get(key))
        if a == b:
            result.unchanged += 1
            continue
        if key not in before:
            result.new_tickets.append(ticket)
        elif key not in after:
            result.dropped_tickets.append(ticket)
        else:
            changes = {k: {"old": a[k], "new": b[k]} for k in a if a[k] != b[k]}
            result.changed.append({"connector": key[0], "ticket": ticket, "changes": changes})
        if a["tier_to"] != b["tier_to"]:
            if b["tier_to"]:
                into[b["tier_to"]].append(ticket)
            if a["tier_to"]:
                out[a["tier_to"]].append(ticket)
        for rule in set(b["rules"]) - set(a["rules"]):
            added[rule].append(ticket)
        for rule in set(a["rules"]) - set(b["rules"]):
            removed[rule].append(ticket)
    result.into_tier, result.out_of_tier = dict(sorted(into.items())), dict(sorted(out.items()))
    result.rule_added, result.rule_removed = (
        dict(sorted(added.items())),
        dict(sorted(removed.items())),
    )
    return result


def _ids(ids: list[int], limit: int = 20) -> str:
    """`#12, #15, … (+4 more)`."""
    shown = ", ".join(f"#{i}" for i in ids[:limit])
    return shown + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def _noun(n: int) -> str:
    """`ticket` or `tickets`."""
    return "ticket" if n == 1 else "tickets"


def _count(n: int) -> str:
    """`1 ticket` / `3 tickets`."""
    return f"{n} ticket" if n == 1 else f"{n} tickets"


def summary_lines(diff: PlanDiff) -> list[str]:
    """The diff in sentences, as a reviewer reads it in a pull request."""
    if diff.is_empty():
        return [f"no change: both plans write the same things ({_count(diff.unchanged)})"]
    lines = []
    for tier in sorted(diff.into_tier.keys() | diff.out_of_tier.keys()):
        more, fewer = diff.into_tier.get(tier, []), diff.out_of_tier.get(tier, [])
        if more:
            n = len(more)
            lines.append(
                f"with the new rules, {n} more {_noun(n)} would go to {tier}: {_ids(more)}"
            )
        if fewer:
            lines.append(f"{_count(len(fewer))} would no longer go to {tier}: {_ids(fewer)}")
    for rule, ids in diff.rule_added.items():
        lines.append(f"rule {rule} would fire on {_count(len(ids))} more: {_ids(ids)}")
    for rule, ids in diff.rule_removed.items():
        lines.append(f"rule {rule} would no longer fire on {_count(len(ids))}: {_ids(ids)}")
    lines.append(
        f"{_count(len(diff.new_tickets))} newly planned, {_count(len(diff.dropped_tickets))} "
        f"no longer planned, {_count(len(diff.changed))} planned differently, "
        f"{_count(diff.unchanged)} unchanged"
    )
    return lines
