"""Are we meeting our targets? Response and resolution attainment of tier entries, by tier,
priority, SLA profile and organization and per week, and the customer satisfaction of escalated
tickets beside that of the others.

Attainment is met / (met + missed): a deadline still ahead is not judged yet. A tier entry's
profile and priority are those its deadlines were counted for, as the audit log recorded them
(the entry's escalation, or the latest retarget); an entry the log says nothing about counts as
"unknown" rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from esc_sync.htmlreport.sources import MirrorRow, TierEntryRow
from esc_sync.model import CLOSED_STATUSES

DIMENSIONS = ("tier", "priority", "profile", "organization")
RATINGS = ("good", "bad", "none")


@dataclass(slots=True)
class Attainment:
    """Response and resolution deadlines of one group: met, missed, not judged yet."""

    respond_met: int = 0
    respond_missed: int = 0
    resolve_met: int = 0
    resolve_missed: int = 0
    pending: int = 0

    def judge(self, kind: str, done: datetime | None, due: datetime | None, now: datetime) -> None:
        """Met when done by the deadline, missed when late or overdue, else still pending."""
        if due is None:
            return
        if done is None and now <= due:
            self.pending += 1
            return
        met = done is not None and done <= due
        name = f"{kind}_{'met' if met else 'missed'}"
        setattr(self, name, getattr(self, name) + 1)

    @property
    def respond_rate(self) -> float | None:
        """Response attainment in percent (None: nothing judged)."""
        return _rate(self.respond_met, self.respond_missed)

    @property
    def resolve_rate(self) -> float | None:
        """Resolution attainment in percent (None: nothing judged)."""
        return _rate(self.resolve_met, self.resolve_missed)


def _rate(met: int, missed: int) -> float | None:
    """met / (met + missed) in percent."""
    return 100.0 * met / (met + missed) if met + missed else None


@dataclass(slots=True)
class Satisfaction:
    """Ratings of a set of tickets: good, bad, none."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    @property
    def rated(self) -> int:
        """Tickets rated good or bad."""
        return self.counts["good"] + self.counts["bad"]

    @property
    def score(self) -> float | None:
        """Good among rated tickets, in percent (the usual CSAT)."""
        return 100.0 * self.counts["good"] / self.rated if self.rated else None


@dataclass(slots=True)
class TargetsReport:
    """Attainment by dimension and by week, and satisfaction escalated vs not."""

    by: dict[str, dict[str, Attainment]] = field(default_factory=dict)  # dimension -> group
    weeks: dict[str, Attainment] = field(default_factory=dict)  # ISO week -> attainment
    escalated: Satisfaction = field(default_factory=Satisfaction)
    others: Satisfaction = field(default_factory=Satisfaction)
    total: Attainment = field(default_factory=Attainment)


def build_targets(
    records: Iterable[Mapping[str, Any]],
    mirror: Mapping[tuple[str, int], MirrorRow],
    entries: Sequence[TierEntryRow] | None,
    escalated: Iterable[tuple[str, int]],
    *,
    now: datetime,
    since: datetime,
    tier_order: Sequence[str] = (),
) -> TargetsReport:
    """Attainment of the tier entries made in [since, now], and satisfaction of the tickets."""
    report = TargetsReport(by={dim: {} for dim in DIMENSIONS})
    basis = _bases(records)
    touched = set(escalated)
    for e in entries or []:
        if e.entered_at is None or e.entered_at < since or e.entered_at > now:
            continue
        key = (e.connector, e.ticket)
        touched.add(key)
        row = mirror.get(key)
        profile, priority = basis.get((*key, e.tier), ("unknown", _priority(row)))
        groups = {
            "tier": e.tier,
            "priority": priority or "none",
            "profile": profile or "none",
            "organization": (row.organization if row else None) or "none",
        }
        solved = row.updated_at if row is not None and row.status in CLOSED_STATUSES else None
        week = _week(e.entered_at)
        cells = [report.total, report.weeks.setdefault(week, Attainment())]
        cells += [report.by[dim].setdefault(value, Attainment()) for dim, value in groups.items()]
        for cell in cells:
            cell.judge("respond", e.responded_at, e.respond_by, now)
            if e.state != "moved":  # a person took the ticket elsewhere: not this tier's to solve
                cell.judge("resolve", solved, e.resolve_by, now)
    report.weeks = dict(sorted(report.weeks.items()))
    order = {tier: i for i, tier in enumerate(tier_order)}
    report.by["tier"] = dict(
        sorted(report.by["tier"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    )
    for dim in DIMENSIONS[1:]:
        report.by[dim] = dict(sorted(report.by[dim].items()))
    _satisfaction(report, mirror, touched, since)
    return report


def _bases(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int, str], tuple[str, str]]:
    """(connector, ticket, tier) -> (profile, priority) its deadlines were counted for, from
    live audit lines; the latest wins (a retarget after the escalation)."""
    found: dict[tuple[str, int, str], tuple[str, str]] = {}
    for record in records:
        if record.get("dry_run") or record.get("outcome") != "applied":
            continue
        key = (str(record.get("connector")), int(record.get("ticket") or 0))
        deadlines = record.get("deadlines") or {}
        tier = record.get("tier_to")
        if tier and "sla_profile" in deadlines:
            found[(*key, str(tier))] = (
                str(deadlines.get("sla_profile") or "none"),
                str(deadlines.get("priority") or "none"),
            )
        for step in record.get("ladder") or []:
            if isinstance(step, dict) and step.get("step") == "retarget" and step.get("basis"):
                profile, priority = step["basis"]
                found[(*key, str(step.get("tier")))] = (profile or "none", priority or "none")
    return found


def _priority(row: MirrorRow | None) -> str:
    """The ticket's priority as the mirror last saw it."""
    value = row.data.get("priority") if row is not None else None
    return str(value) if value else "none"


def _week(moment: datetime) -> str:
    """The ISO week of an instant, "2026-W10"."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _satisfaction(
    report: TargetsReport,
    mirror: Mapping[tuple[str, int], MirrorRow],
    escalated: set[tuple[str, int]],
    since: datetime,
) -> None:
    """Ratings of the solved tickets updated in the period, escalated or not."""
    for key, row in mirror.items():
        if row.status not in CLOSED_STATUSES or row.updated_at is None or row.updated_at < since:
            continue
        rating = _rating(row.data.get("satisfaction"))
        side = report.escalated if key in escalated else report.others
        side.counts[rating] += 1


def _rating(raw: Any) -> str:
    """good, bad or none, from the mirror's satisfaction (a word, or a rating object)."""
    if isinstance(raw, dict):
        raw = raw.get("score") or raw.get("rating")
    text = str(raw or "none").lower()
    return text if text in RATINGS else "none"
