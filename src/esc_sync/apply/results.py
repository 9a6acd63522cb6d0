"""What a cycle reports: counts by outcome, rules and tiers, calls made, and planned rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class PlannedRow:
    """One ticket's plan, for the dry-run table and the demo."""

    ticket: int
    subject: str
    rules: list[str]
    tier_from: str | None
    tier_to: str | None
    respond_by: str | None
    resolve_by: str | None
    tasks: int
    outcome: str
    target: str | None = None  # the SLA profile and targets of the deadlines, in short


@dataclass(slots=True)
class CycleReport:
    """What one cycle read, decided and wrote."""

    connector: str
    dry_run: bool
    pages: int = 0
    tickets_read: int = 0
    matched: int = 0
    updates: int = 0
    tasks_created: int = 0
    conflicts: int = 0
    skipped: int = 0
    recovered: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    rows: list[PlannedRow] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    # messages to channels by (channel, event, outcome): sent, failed, planned (dry run)
    notifications: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    stopped_early: bool = False
    stop_reason: str | None = None  # why the cycle stopped before the feed's end
    # tickets whose write failed transiently (after the safe retries): left for the next
    # cycle's recovery, with why
    deferred: list[tuple[int, str]] = field(default_factory=list)
