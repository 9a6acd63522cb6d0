"""A failing write fails one ticket, not the cycle: it is deferred with a growing pause, the
others go on, and the next cycle's recovery finishes it exactly once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.errors import HelpdeskUnusable, TransientError
from esc_sync.model import TaskCreate, Ticket
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import NOW, RULES, customer_said, manager_ticket


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture()
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    desk = FakeHelpdesk(NOW)
    for tid in (1, 2, 3):
        desk.add(manager_ticket(tid), [customer_said(tid, "I want your manager, now.")])
    connector = FakeConnector(desk)
    clock = Clock()
    store = Store(tmp_path / "state.db")
    worker = Worker(policy=load_policy(RULES), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock)
    return desk, connector, worker, store, clock, tmp_path / "audit.jsonl"


def briefings(desk: FakeHelpdesk) -> Counter[int]:
    return Counter(tid for tid, cs in desk.comments.items() for c in cs
                   if c.author_role == "worker" and not c.public and "esc-sync:" in c.body)


def test_a_task_that_fails_for_now_defers_its_ticket_and_the_cycle_goes_on(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, clock, audit = world
    real = connector.create_task
    failing = {"left": 4}  # the first task of ticket 2 fails four times (each cycle's try)

    def flaky(task: TaskCreate) -> int:
        if task.parent_ticket == 2 and failing["left"]:
            failing["left"] -= 1
            raise TransientError("POST /api/v2/tickets.json: HTTP 502", status=502)
        return real(task)

    connector.create_task = flaky  # type: ignore[method-assign]

    report = worker.run_cycle(connector)
    assert [t for t, _ in report.deferred] == [2] and "502" in report.deferred[0][1]
    assert briefings(desk) == Counter({1: 1, 2: 1, 3: 1})  # ticket 2's update did land
    assert store.bookmark("fake") is not None  # the ledger holds ticket 2's work
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(r["outcome"] == "deferred" and r["ticket"] == 2 for r in records)

    clock.now = NOW + timedelta(seconds=10)  # before the 30 s pause: left alone
    writes = connector.calls["POST task"] + connector.calls["PUT ticket"]
    worker.run_cycle(connector)
    assert failing["left"] == 3  # not tried again yet
    assert connector.calls["POST task"] + connector.calls["PUT ticket"] == writes

    for step in (31, 92, 213, 454):  # 30 s, 1 min, 2 min, 4 min pauses; the fourth try works
        clock.now = NOW + timedelta(seconds=step)
        worker.run_cycle(connector)
    assert failing["left"] == 0
    tasks = Counter(t.parent_ticket for t in desk.tasks.values())
    assert tasks[2] == tasks[1] > 0
    assert briefings(desk) == Counter({1: 1, 2: 1, 3: 1})
    assert store.open_intents("fake") == []


def test_a_read_that_fails_for_now_is_retried_next_cycle(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, clock, _ = world
    real = connector.load_comments
    failing = {"left": 1}

    def flaky(ticket: Ticket) -> Ticket:
        if ticket.id == 3 and failing["left"]:
            failing["left"] -= 1
            raise TransientError("GET comments: read timeout")
        return real(ticket)

    connector.load_comments = flaky  # type: ignore[method-assign]

    report = worker.run_cycle(connector)
    assert [t for t, _ in report.deferred] == [3]
    assert briefings(desk) == Counter({1: 1, 2: 1})
    assert [e.key for e in store.open_intents("fake")] == ["retry"]

    clock.now = NOW + timedelta(seconds=31)
    worker.run_cycle(connector)
    assert briefings(desk) == Counter({1: 1, 2: 1, 3: 1})
    assert store.open_intents("fake") == []


def test_every_ticket_failing_in_a_row_ends_the_cycle(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _clock, _ = world
    for tid in range(4, 16):
        desk.add(manager_ticket(tid), [customer_said(tid, "A supervisor, please.")])

    def down(update):  # type: ignore[no-untyped-def]
        raise TransientError("PUT ticket: HTTP 503", status=503)

    connector.apply_update = down  # type: ignore[method-assign]

    with pytest.raises(HelpdeskUnusable):
        worker.run_cycle(connector)
    assert store.bookmark("fake") is None
