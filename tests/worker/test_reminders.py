"""Reminders on the shipped policy's business calendar (New York, 09:00-17:00, US holidays).

A reminder is written only when its moment, counted in business time as the deadline is, lies
after the tier entry: a reminder that would arrive with the briefing tells nobody anything.
Every case freezes the clock; none depends on when the suite runs.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.plan.ladder import LadderStep, pending_steps, reminder_note
from esc_sync.policy import Policy, load_policy
from esc_sync.state.sqlite import Store, TierEntry
from esc_sync.worker.cycle import Worker

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import customer_said, manager_ticket

RULES = Path(__file__).resolve().parents[2] / "rules"
NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def policy() -> Policy:
    """The shipped policy: t3 answers within 1h, resolves within 8h; reminders 1h and 15m."""
    return load_policy(RULES)


def ny(*parts: int) -> datetime:
    """A New York wall-clock instant."""
    return datetime(*parts, tzinfo=NY)  # type: ignore[misc]


def entry_at(policy: Policy, tier: str, entered: datetime) -> TierEntry:
    """A fresh tier entry with the tier's own deadlines."""
    dl = policy.deadlines(tier, entered)
    return TierEntry("fake", 1, 1, tier, entered, dl.respond_by, dl.resolve_by)


def reminders(policy: Policy, entry: TierEntry) -> dict[str, datetime]:
    """Pending reminders by "deadline offset", in New York time."""
    steps = pending_steps(policy, entry, set())
    return {f"{s.deadline} {s.offset}": s.at.astimezone(NY) for s in steps if s.kind == "remind"}


def test_a_1h_target_entered_mid_morning_gets_no_1h_reminder(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 3, 4, 11, 5))  # a Wednesday
    assert entry.respond_by == ny(2026, 3, 4, 12, 5)
    assert reminders(policy, entry) == {
        "response 15m": ny(2026, 3, 4, 11, 50),
        "resolution 1h": ny(2026, 3, 5, 10, 5),  # 8h business: 11:05 Wed + 7h = 10:05 Thu
        "resolution 15m": ny(2026, 3, 5, 10, 50),
    }


def test_late_on_a_friday_the_reminder_waits_for_monday_morning(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 3, 13, 16, 30))
    assert entry.respond_by == ny(2026, 3, 16, 9, 30)
    found = reminders(policy, entry)
    assert "response 1h" not in found  # 1h of business time before 09:30 Monday is the entry
    assert found["response 15m"] == ny(2026, 3, 16, 9, 15)


def test_a_reminder_that_straddles_the_weekend_falls_on_friday(policy: Policy) -> None:
    entry = entry_at(policy, "t2", ny(2026, 3, 13, 15, 30))  # 2h target: due Monday 09:30
    assert entry.respond_by == ny(2026, 3, 16, 9, 30)
    assert reminders(policy, entry)["response 1h"] == ny(2026, 3, 13, 16, 30)


def test_on_a_public_holiday_the_clock_starts_the_next_business_day(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 11, 26, 10, 0))  # Thanksgiving
    assert entry.respond_by == ny(2026, 11, 27, 10, 0)
    found = reminders(policy, entry)
    assert "response 1h" not in found
    assert found["response 15m"] == ny(2026, 11, 27, 9, 45)


def test_across_the_spring_dst_change_reminders_keep_wall_clock_hours(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 3, 6, 16, 30))  # Friday before the change
    assert entry.respond_by == ny(2026, 3, 9, 9, 30)  # Monday, now on EDT
    found = reminders(policy, entry)
    assert "response 1h" not in found
    assert found["response 15m"] == ny(2026, 3, 9, 9, 15)
    assert found["response 15m"].utcoffset() == timedelta(hours=-4)


def test_entered_outside_business_hours(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 3, 7, 22, 0))  # Saturday night
    assert entry.respond_by == ny(2026, 3, 9, 10, 0)
    found = reminders(policy, entry)
    assert "response 1h" not in found
    assert found["response 15m"] == ny(2026, 3, 9, 9, 45)


def test_a_reminder_lead_longer_than_the_target_is_never_written(policy: Policy) -> None:
    entry = entry_at(policy, "t4", ny(2026, 3, 4, 11, 0))  # 30m target, reminders 1h and 15m
    found = reminders(policy, entry)
    assert "response 1h" not in found
    assert found["response 15m"] == ny(2026, 3, 4, 11, 15)


def test_the_note_says_how_long_is_left_in_business_hours(policy: Policy) -> None:
    entry = entry_at(policy, "t2", ny(2026, 3, 13, 15, 30))  # due Monday 09:30
    step = next(s for s in pending_steps(policy, entry, set()) if s.offset == "1h")
    note = reminder_note(policy, entry, [step], step.at)  # Friday 16:30
    assert "1h of business hours left (2d17h from now)" in note and step.marker in note


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def without_repeats(rules: Path) -> None:
    """The shipped channels without repeats, so the due index holds the ladder's steps only."""
    channels = rules / "channels.toml"
    kept = [line for line in channels.read_text().splitlines() if not line.startswith("repeat_")]
    channels.write_text("\n".join(kept) + "\n")


def test_an_escalation_during_business_hours_gets_its_briefing_alone(
    tmp_path: Path, policy: Policy
) -> None:
    """The shipped ladder, a legal threat at 11:05 on a Wednesday: t3 with a 1h response target.
    The briefing is the only note; the first reminder is due 45 minutes later, then written once."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    without_repeats(rules)
    start = ny(2026, 3, 4, 11, 5)
    clock = Clock(start)
    desk = FakeHelpdesk(start)
    connector = FakeConnector(desk)
    store = Store(tmp_path / "state.db")
    worker = Worker(policy=load_policy(rules), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock)
    desk.add(manager_ticket(), [customer_said(1, "We will take legal action over this.")])

    worker.run_cycle(connector)
    worker.sweep(connector)
    assert desk.tickets[1].tier == "t3"
    assert len(notes(desk)) == 1  # the briefing, and no reminder with it
    assert store.next_due("fake") == ny(2026, 3, 4, 11, 50)

    clock.now = ny(2026, 3, 4, 11, 51)
    worker.sweep(connector)
    worker.sweep(connector)
    written = notes(desk)
    assert len(written) == 2 and "remind-response-15m:t3" in written[1]
    assert "14m left" in written[1]


def test_a_reminder_whose_deadline_has_passed_is_not_written(
    tmp_path: Path, policy: Policy
) -> None:
    """A worker that was down past the deadline writes no stale reminder (the ladder moves)."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    without_repeats(rules)
    start = ny(2026, 3, 4, 11, 5)
    clock = Clock(start)
    desk = FakeHelpdesk(start)
    connector = FakeConnector(desk)
    store = Store(tmp_path / "state.db")
    worker = Worker(policy=load_policy(rules), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock)
    desk.add(manager_ticket(), [customer_said(1, "We will take legal action over this.")])
    worker.run_cycle(connector)

    clock.now = ny(2026, 3, 4, 12, 30)  # past the 12:05 response deadline
    worker.sweep(connector)
    written = notes(desk)
    assert not any("esc-sync:remind-" in n for n in written)
    assert desk.tickets[1].tier == "t4" and "esc-sync:missed-response:t4:ep1" in written[-1]


def notes(desk: FakeHelpdesk, tid: int = 1) -> list[str]:
    """The internal notes the worker wrote on a ticket."""
    return [c.body for c in desk.comments[tid] if c.author_role == "worker" and not c.public]


def test_steps_carry_their_deadline(policy: Policy) -> None:
    entry = entry_at(policy, "t3", ny(2026, 3, 4, 11, 5))
    for step in pending_steps(policy, entry, set()):
        assert isinstance(step, LadderStep)
        expected = entry.respond_by if step.deadline == "response" else entry.resolve_by
        assert step.deadline_at == expected


def test_with_the_ladder_staying_put_a_late_reminder_is_dropped(tmp_path: Path) -> None:
    """No move up to supersede it: a reminder whose deadline passed is recorded moot, not sent."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    without_repeats(rules)
    tiers = (rules / "tiers.toml").read_text()
    (rules / "tiers.toml").write_text(
        tiers.replace('on_missed_response = "next"', 'on_missed_response = "stay"')
    )
    start = ny(2026, 3, 4, 11, 5)
    clock = Clock(start)
    desk = FakeHelpdesk(start)
    connector = FakeConnector(desk)
    store = Store(tmp_path / "state.db")
    worker = Worker(policy=load_policy(rules), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock)
    desk.add(manager_ticket(), [customer_said(1, "We will take legal action over this.")])
    worker.run_cycle(connector)

    clock.now = ny(2026, 3, 4, 12, 30)  # past the 12:05 response deadline, before resolution
    worker.sweep(connector)
    assert len(notes(desk)) == 1 and desk.tickets[1].tier == "t3"
    ledger = store.ledger("fake", 1, 1)
    assert ledger["remind:t3:response:15m"].state == "done"
    assert store.next_due("fake") == ny(2026, 3, 5, 10, 5)  # the resolution's 1h reminder
