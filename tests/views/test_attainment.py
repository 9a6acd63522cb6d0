"""Attainment per tier, priority, SLA profile, organization and week, and satisfaction of
escalated tickets beside the others, from tier entries, audit lines and the mirror."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from esc_sync.htmlreport.attainment import build_targets
from esc_sync.htmlreport.sources import MirrorRow, TierEntryRow
from esc_sync.htmlreport.targets_page import section

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=21)


def row(ticket: int, status: str, org: str, satisfaction: str, solved: datetime) -> MirrorRow:
    """A mirrored ticket."""
    data = {"organization": {"name": org}, "satisfaction": satisfaction, "priority": "normal"}
    return MirrorRow("zd", ticket, status, "t2", None, SINCE, solved, data)


def entry(ticket: int, entered: datetime, responded: timedelta | None) -> TierEntryRow:
    """A t2 entry due 1h / 8h after it was made."""
    answer = entered + responded if responded is not None else None
    return TierEntryRow("zd", ticket, 1, "t2", entered, entered + timedelta(hours=1),
                        entered + timedelta(hours=8), answer, "resolved")


def escalation(ticket: int, profile: str | None, priority: str) -> dict[str, object]:
    """The live audit line of an escalation to t2 with its targets."""
    return {"at": "2026-03-02T10:00:00Z", "connector": "zd", "ticket": ticket, "outcome": "applied",
            "dry_run": False, "tier_to": "t2", "rules": [{"rule": "r"}],
            "deadlines": {"sla_profile": profile, "priority": priority}}


def test_attainment_by_profile_priority_organization_and_week() -> None:
    week1 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    week2 = week1 + timedelta(days=7)
    entries = [
        entry(1, week1, timedelta(minutes=10)),  # gold: answered in time, solved in time
        entry(2, week1, timedelta(hours=2)),  # answered late, solved late
        entry(3, week2, timedelta(minutes=30)),  # answered in time, still open and overdue
    ]
    mirror = {
        ("zd", 1): row(1, "solved", "Globex", "good", week1 + timedelta(hours=3)),
        ("zd", 2): row(2, "solved", "Acme", "bad", week1 + timedelta(days=2)),
        ("zd", 3): row(3, "open", "Acme", "none", week2),
        ("zd", 4): row(4, "solved", "Acme", "good", week2),  # never escalated
        ("zd", 5): row(5, "solved", "Acme", "good", week2),  # never escalated
    }
    records = [escalation(1, "gold", "urgent"), escalation(2, None, "normal"),
               escalation(3, None, "normal")]
    report = build_targets(records, mirror, entries, [("zd", 1), ("zd", 2), ("zd", 3)],
                           now=NOW, since=SINCE, tier_order=["t1", "t2"])

    assert report.total.respond_rate == 100 * 2 / 3
    assert report.total.resolve_rate == 100 * 1 / 3
    gold = report.by["profile"]["gold"]
    assert (gold.respond_rate, gold.resolve_rate) == (100.0, 100.0)
    assert report.by["profile"]["none"].resolve_rate == 0.0
    assert set(report.by["priority"]) == {"urgent", "normal"}
    assert report.by["organization"]["Acme"].respond_rate == 50.0
    assert list(report.weeks) == ["2026-W10", "2026-W11"]
    assert report.weeks["2026-W11"].respond_rate == 100.0
    assert report.escalated.counts == {"good": 1, "bad": 1, "none": 0}  # #3 is not solved
    assert report.others.counts == {"good": 2, "bad": 0, "none": 0}
    assert report.escalated.score == 50.0 and report.others.score == 100.0

    html = section(report)
    assert "Are we meeting our targets?" in html and "By SLA profile" in html
    assert "<polyline" in html and "Customer satisfaction" in html


def test_a_deadline_still_ahead_is_not_judged() -> None:
    fresh = NOW - timedelta(minutes=10)
    report = build_targets([], {}, [entry(9, fresh, None)], [], now=NOW, since=SINCE)
    assert report.total.respond_rate is None and report.total.pending == 2
    assert report.by["profile"] == {"unknown": report.by["profile"]["unknown"]}
