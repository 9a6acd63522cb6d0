"""SLA profiles while a ticket sits in a tier: a customer who becomes gold gets the gold
targets counted from the tier entry, with the time already spent paused kept, and a short note
saying so, once."""

from __future__ import annotations

from datetime import timedelta

from esc_sync.model import Comment, Organization

from .test_cycle import customer_said, manager_ticket
from .test_ladder import T0, ladder_world, worker_notes

__all__ = ["ladder_world"]  # the fixture, shared with the ladder's stories


def test_a_customer_becoming_gold_in_t2_gets_gold_deadlines_with_the_pause_kept(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)
    entry = store.active_entry("fake", 1)
    assert entry is not None and entry.resolve_by == T0 + timedelta(hours=1)

    clock.now = T0 + timedelta(minutes=5)
    desk.comments[1].append(Comment(id=78, author_id=42, body="Could you send the invoice?",
                                    public=True, created_at=clock.now, author_role="agent"))
    desk.touch(1, status="pending")
    worker.run_cycle(connector)
    clock.now = T0 + timedelta(minutes=35)
    desk.touch(1, status="open")
    worker.run_cycle(connector)  # 30 minutes paused: resolve by T0 + 1h30

    clock.now = T0 + timedelta(minutes=40)
    desk.touch(1, organization=Organization(id=7, name="Acme Corp", tags=("gold",)))
    worker.run_cycle(connector)
    worker.sweep(connector)

    entry = store.active_entry("fake", 1)
    assert entry is not None and entry.tier == "t2"
    assert entry.respond_by == T0 + timedelta(minutes=15)  # gold t2: respond within 15m
    assert entry.resolve_by == T0 + timedelta(hours=2, minutes=30)  # 2h, and the 30m paused
    assert entry.responded_at == T0 + timedelta(minutes=5)  # the reply still counts
    notes = worker_notes(desk)
    assert "Deadlines counted again** (SLA profile none -> gold)" in notes[-1]
    assert "gold, t2 high: respond within 15m (gold target)" in notes[-1]
    assert "esc-sync:retarget-1:t2:ep1" in notes[-1]
    assert desk.tickets[1].tier == "t2"  # no move: the same tier, new deadlines

    worker.run_cycle(connector)
    worker.sweep(connector)
    assert len(worker_notes(desk)) == len(notes)  # said once


def test_a_ticket_that_stays_ordinary_is_not_counted_again(ladder_world):  # type: ignore[no-untyped-def]
    desk, connector, store, clock, make = ladder_world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker = make()
    worker.run_cycle(connector)
    clock.now = T0 + timedelta(minutes=2)
    desk.touch(1, subject="Billing mess (follow-up)")
    worker.run_cycle(connector)
    worker.sweep(connector)
    assert len(worker_notes(desk)) == 1
    entry = store.active_entry("fake", 1)
    assert entry is not None and entry.respond_by == T0 + timedelta(minutes=20)
