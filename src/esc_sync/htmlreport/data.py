"""The report's numbers, computed from the audit log and a read-only snapshot of the state store.

Only live decisions count (dry runs wrote nothing). Response deadlines are judged only where the
store records responses (tier entries); otherwise they are reported as not recorded.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from esc_sync.auditq import record_time
from esc_sync.htmlreport.attainment import TargetsReport, build_targets
from esc_sync.htmlreport.sources import MirrorRow, StoreSnapshot, TierEntryRow, parse_time
from esc_sync.model import CLOSED_STATUSES

RESOLVE_BUCKETS: list[tuple[str, timedelta]] = [
    ("< 4h", timedelta(hours=4)),
    ("4–8h", timedelta(hours=8)),
    ("8–24h", timedelta(days=1)),
    ("1–2d", timedelta(days=2)),
    ("2–5d", timedelta(days=5)),
    ("> 5d", timedelta.max),
]


@dataclass(slots=True)
class DeadlineTally:
    """Deadlines of one kind at one tier."""

    met: int = 0
    missed: int = 0
    pending: int = 0


@dataclass(slots=True)
class OpenTicket:
    """An escalated ticket still open, with its next deadline."""

    connector: str
    ticket: int
    subject: str
    tier: str
    escalated_at: datetime | None
    next_deadline: datetime | None
    deadline_kind: str  # "respond" | "resolve" | ""


@dataclass(slots=True)
class ReportData:
    """Everything the HTML page shows."""

    now: datetime
    since: datetime
    days: list[str] = field(default_factory=list)
    per_day: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> day -> count
    by_tier: dict[str, int] = field(default_factory=dict)
    response: dict[str, DeadlineTally] | None = None  # None: responses not recorded
    resolution: dict[str, DeadlineTally] = field(default_factory=dict)
    resolve_times: list[timedelta] = field(default_factory=list)
    top_rules: list[tuple[str, int]] = field(default_factory=list)
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    top_orgs: list[tuple[str, int]] = field(default_factory=list)
    repeat_requesters: list[tuple[str, int]] = field(default_factory=list)
    open_by_tier: dict[str, list[OpenTicket]] = field(default_factory=dict)
    escalations: int = 0
    tickets_escalated: int = 0
    dry_records: int = 0
    notes: list[str] = field(default_factory=list)
    targets: TargetsReport = field(default_factory=TargetsReport)  # attainment, satisfaction
    # messages to people, per channel: outcome ("sent", "retrying", "failed") -> count
    messages: dict[str, dict[str, int]] = field(default_factory=dict)

    def resolve_histogram(self) -> list[tuple[str, int]]:
        """Time to resolve, bucketed."""
        counts = dict.fromkeys((label for label, _ in RESOLVE_BUCKETS), 0)
        for spent in self.resolve_times:
            label = next(lbl for lbl, upper in RESOLVE_BUCKETS if spent < upper)
            counts[label] += 1
        return list(counts.items())

    def median_resolve(self) -> timedelta | None:
        """The median time to resolve an escalated ticket."""
        if not self.resolve_times:
            return None
        ordered = sorted(self.resolve_times)
        return ordered[len(ordered) // 2]


def build_report_data(
    records: Iterable[dict[str, Any]],
    store: StoreSnapshot,
    *,
    now: datetime,
    since: datetime,
    tier_order: Sequence[str] = (),
    top: int = 8,
) -> ReportData:
    """Compute the report's figures for the window [since, now]."""
    data = ReportData(now=now, since=since)
    data.days = _days(since, now)
    escalated: dict[tuple[str, int], dict[str, Any]] = {}  # first live escalation per ticket
    latest: dict[tuple[str, int], dict[str, Any]] = {}  # latest live escalation per ticket
    rules: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    by_tier: Counter[str] = Counter()
    live: list[dict[str, Any]] = []
    for record in records:
        at = record_time(record)
        if at is None or at < since or at > now:
            continue
        if record.get("dry_run"):
            data.dry_records += 1
            continue
        live.append(record)
        _count_message(data, record)
        if record.get("outcome") != "applied" or not record.get("rules"):
            continue
        key = (str(record.get("connector")), int(record.get("ticket") or 0))
        escalated.setdefault(key, record)
        latest[key] = record
        day = at.date().isoformat()
        for match in record["rules"]:
            rule = str(match.get("rule"))
            per_day[rule][day] += 1
            rules[rule] += 1
            data.escalations += 1
        if record.get("tier_to"):
            by_tier[str(record["tier_to"])] += 1
        for tag in (record.get("planned") or {}).get("tags") or []:
            tags[str(tag)] += 1
    data.tickets_escalated = len(escalated)
    data.per_day = {rule: dict(per_day[rule]) for rule, _ in rules.most_common()}
    data.by_tier = dict(sorted(by_tier.items(), key=lambda kv: _rank(kv[0], tier_order)))
    data.top_rules = rules.most_common(top)
    mirror = {(m.connector, m.ticket): m for m in store.mirror}
    _themes(data, escalated, mirror, tags, top)
    _resolution(data, escalated, latest, mirror, store.tier_entries, tier_order)
    _open_tickets(data, latest, mirror, store.tier_entries, tier_order)
    data.targets = build_targets(
        live, mirror, store.tier_entries, escalated, now=now, since=since, tier_order=tier_order
    )
    return data


def _count_message(data: ReportData, record: dict[str, Any]) -> None:
    """A message's audit line (`notification-sent`, `-retrying`, `-failed`) counted by channel."""
    outcome = str(record.get("outcome") or "")
    notice = record.get("notification")
    if not outcome.startswith("notification-") or not isinstance(notice, dict):
        return
    per = data.messages.setdefault(str(notice.get("channel")), {})
    kind = outcome.removeprefix("notification-")
    per[kind] = per.get(kind, 0) + 1


def _days(since: datetime, now: datetime) -> list[str]:
    """Every day of the window, oldest first."""
    day, last, days = since.date(), now.date(), []
    while day <= last:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def _rank(tier: str, order: Sequence[str]) -> tuple[int, str]:
    """Sort key: the policy's tier order, unknown tiers last."""
    return (order.index(tier) if tier in order else len(order), tier)


def _themes(
    data: ReportData,
    escalated: dict[tuple[str, int], dict[str, Any]],
    mirror: dict[tuple[str, int], MirrorRow],
    planned_tags: Counter[str],
    top: int,
) -> None:
    """Top tags, organizations and repeat requesters among escalated tickets."""
    tags: Counter[str] = Counter()
    orgs: Counter[str] = Counter()
    for key in escalated:
        row = mirror.get(key)
        if row is None:
            continue
        tags.update(row.tags)
        if row.organization:
            orgs[row.organization] += 1
    data.top_tags = (tags or planned_tags).most_common(top)
    data.top_orgs = orgs.most_common(top)
    requesters: Counter[str] = Counter()
    for row in mirror.values():
        created = row.created_at
        if created is not None and created >= data.since and row.requester:
            requesters[row.requester] += 1
    data.repeat_requesters = [(who, n) for who, n in requesters.most_common(top) if n >= 2]
    if not orgs:
        data.notes.append("Organizations: the state store holds no organization for these tickets.")


def _resolved_at(row: MirrorRow | None) -> datetime | None:
    """When a solved ticket was solved (its last update, as the mirror saw it)."""
    if row is None or row.status not in CLOSED_STATUSES:
        return None
    return row.updated_at


def _resolution(
    data: ReportData,
    escalated: dict[tuple[str, int], dict[str, Any]],
    latest: dict[tuple[str, int], dict[str, Any]],
    mirror: dict[tuple[str, int], MirrorRow],
    entries: list[TierEntryRow] | None,
    order: Sequence[str],
) -> None:
    """Deadlines met or missed per tier, and the time escalated tickets took to resolve."""
    resolution: dict[str, DeadlineTally] = defaultdict(DeadlineTally)
    for key, first in escalated.items():
        solved = _resolved_at(mirror.get(key))
        start = record_time(first)
        if solved is not None and start is not None and solved >= start:
            data.resolve_times.append(solved - start)
        last = latest[key]
        tier = last.get("tier_to")
        due = parse_time((last.get("deadlines") or {}).get("resolve_by"))
        if tier and due is not None and entries is None:
            _judge(resolution[str(tier)], solved, due, data.now)
    if entries is not None:
        response: dict[str, DeadlineTally] = defaultdict(DeadlineTally)
        for e in entries:
            if e.respond_by is not None:
                _judge(response[e.tier], e.responded_at, e.respond_by, data.now)
            if e.resolve_by is not None:
                solved = _resolved_at(mirror.get((e.connector, e.ticket)))
                _judge(resolution[e.tier], solved, e.resolve_by, data.now)
        data.response = dict(sorted(response.items(), key=lambda kv: _rank(kv[0], order)))
    else:
        data.notes.append(
            "Response deadlines: this state store does not record first responses yet, so "
            "met/missed cannot be judged; resolution is judged from the audit log's deadlines "
            "and the mirror's solved tickets."
        )
    data.resolution = dict(sorted(resolution.items(), key=lambda kv: _rank(kv[0], order)))


def _judge(tally: DeadlineTally, done: datetime | None, due: datetime, now: datetime) -> None:
    """Met when done by the deadline, missed when done late or overdue, else pending."""
    if done is not None:
        if done <= due:
            tally.met += 1
        else:
            tally.missed += 1
    elif now > due:
        tally.missed += 1
    else:
        tally.pending += 1


def _open_tickets(
    data: ReportData,
    latest: dict[tuple[str, int], dict[str, Any]],
    mirror: dict[tuple[str, int], MirrorRow],
    entries: list[TierEntryRow] | None,
    order: Sequence[str],
) -> None:
    """Escalated tickets still open, grouped by their current tier, soonest deadline first."""
    active = {(e.connector, e.ticket): e for e in entries or [] if e.state == "active"}
    keys = set(latest) | set(active)
    by_tier: dict[str, list[OpenTicket]] = defaultdict(list)
    for key in keys:
        row = mirror.get(key)
        if row is not None and row.status in CLOSED_STATUSES:
            continue
        record, entry = latest.get(key), active.get(key)
        tier = entry.tier if entry else (record or {}).get("tier_to") or (row.tier if row else None)
        if not tier:
            continue
        deadlines = (record or {}).get("deadlines") or {}
        respond = entry.respond_by if entry else parse_time(deadlines.get("respond_by"))
        resolve = entry.resolve_by if entry else parse_time(deadlines.get("resolve_by"))
        responded = entry.responded_at if entry else None
        nxt: datetime | None = resolve
        kind = "resolve" if resolve else ""
        if respond is not None and responded is None and respond >= data.now:
            nxt, kind = respond, "respond"
        by_tier[str(tier)].append(
            OpenTicket(
                connector=key[0],
                ticket=key[1],
                subject=row.subject if row else "",
                tier=str(tier),
                escalated_at=record_time(record) if record else entry.entered_at if entry else None,
                next_deadline=nxt,
                deadline_kind=kind,
            )
        )
    far = data.now + timedelta(days=36500)
    data.open_by_tier = {
        tier: sorted(items, key=lambda o: (o.next_deadline or far, o.ticket))
        for tier, items in sorted(by_tier.items(), key=lambda kv: _rank(kv[0], order))
    }
