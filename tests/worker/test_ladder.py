"""The ladder on a frozen, fast-forwarded clock: reminders, moves up, responses, pauses."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import Comment
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import customer_said, manager_ticket

RULES = Path(__file__).resolve().parents[2] / "rules"
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

FAST_TIERS = """
[[tiers]]
id = "t1"
name = "Frontline"
respond_within = "20m"
resolve_within = "2h"
[[tiers]]
id = "t2"
name = "Team lead"
respond_within = "20m"
resolve_within = "1h"
playbook = "team-lead"
pause_on = ["pending"]
[[tiers]]
id = "t3"
name = "Specialist"
respond_within = "10m"
resolve_within = "30m"
playbook = "specialist"
[[tiers]]
id = "t4"
name = "Executive"
respond_within = "5m"
resolve_within = "20m"
[ladder]
on_missed_response = "next"
on_missed_resolution = "next"
remind_before = ["5m"]
top = "t4"
"""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def ladder_world(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The default rules with minute-scale tiers in calendar time."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "tiers.toml").write_text(FAST_TIERS)
    clock = Clock()
    desk = FakeHelpdesk(T0)
    connector = FakeConnector(desk)
    store = Store(tmp_path / "state.db")
    policy = load_policy(rules)

    def worker() -> Worker:
        return Worker(policy=policy, store=store, audit=AuditLog(tmp_path / "a.jsonl"),
                      clock=clock)

    return desk, connector, store, clock, worker


def worker_notes(desk: FakeHelpdesk, tid: int = 1) -> list[str]:
    """The internal notes the worker wrote on a ticket."""
    return [c.body for c in desk.comments[tid] if c.author_role == "worker" and not c.public]


def test_missed_response_moves_the_ticket_up_after_a_reminder(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)
    assert desk.tickets[1].tier == "t2"
    assert store.next_due("fake") == T0 + timedelta(minutes=15)  # the 5m reminder

    clock.now = T0 + timedelta(minutes=16)
    connector.calls.clear()
    worker.sweep(connector)
    notes = worker_notes(desk)
    assert len(notes) == 2 and "esc-sync:remind-response-5m:t2:ep1" in notes[1]
    assert set(connector.calls) == {"PUT ticket"}  # the clock reads nothing

    clock.now = T0 + timedelta(minutes=21)
    worker.sweep(connector)
    ticket = desk.tickets[1]
    assert ticket.tier == "t3" and "esc-missed-response" in ticket.tags
    notes = worker_notes(desk)
    assert "esc-sync:missed-response:t3:ep1" in notes[2] and "by 1m" in notes[2]
    assert any(ext.endswith(":specialist:1") for ext in desk.tasks)

    restarted = make()  # a restart in the middle writes nothing twice
    restarted.run_cycle(connector)
    restarted.sweep(connector)
    assert len(worker_notes(desk)) == 3


def test_an_agent_reply_meets_the_response_deadline(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)

    clock.now = T0 + timedelta(minutes=10)
    desk.comments[1].append(Comment(id=77, author_id=42, body="On it, calling you now.",
                                    public=True, created_at=clock.now, author_role="agent"))
    desk.touch(1)
    worker.run_cycle(connector)

    assert store.active_entry("fake", 1).responded_at == clock.now  # type: ignore[union-attr]
    clock.now = T0 + timedelta(minutes=25)
    worker.sweep(connector)
    assert desk.tickets[1].tier == "t2"  # no move for the response deadline
    assert store.next_due("fake") == T0 + timedelta(minutes=55)  # the resolution reminder


def test_waiting_on_the_customer_pauses_the_resolution_clock(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)

    clock.now = T0 + timedelta(minutes=5)
    desk.comments[1].append(Comment(id=78, author_id=42, body="Could you send the invoice?",
                                    public=True, created_at=clock.now, author_role="agent"))
    desk.touch(1, status="pending")
    worker.run_cycle(connector)
    clock.now = T0 + timedelta(minutes=35)
    desk.touch(1, status="open")
    worker.run_cycle(connector)

    entry = store.active_entry("fake", 1)
    assert entry is not None
    assert entry.resolve_by == T0 + timedelta(hours=1, minutes=30)  # pushed by the 30m paused


def test_a_person_moving_the_ticket_stops_the_ladder(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)
    desk.touch(1, group=1, tier="t1")
    worker.run_cycle(connector)

    clock.now = T0 + timedelta(hours=3)
    worker.sweep(connector)

    assert desk.tickets[1].tier == "t1"
    assert store.active_entry("fake", 1) is None


def test_a_time_rule_fires_from_the_mirror_when_it_comes_due(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(description="Checkout is broken", priority="urgent",
                            created_at=T0 - timedelta(hours=1), agent_replies=0),
             [customer_said(1, "Checkout is broken")])
    worker = make()
    worker.run_cycle(connector)
    assert desk.tickets[1].tier == "t1"
    assert store.next_due("fake") == T0 + timedelta(hours=3)  # created + 4h

    clock.now = T0 + timedelta(hours=3, seconds=30)
    connector.calls.clear()
    worker.sweep(connector)

    assert desk.tickets[1].tier == "t2" and "esc-no-reply" in desk.tickets[1].tags
    assert "GET changes" not in connector.calls
