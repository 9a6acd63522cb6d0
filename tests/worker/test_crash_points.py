"""Crash points of the applier: the worker dies exactly there, a new one finishes the work once.

In the spirit of Dagster's sensor failure-recovery tests: every named point in
`esc_sync.apply.applier.CRASH_POINTS` is passed while a burst of escalations is written (one by
one, and in bulk jobs); the process "dies" at the n-th passage of the point (the exception
escapes everything, as SIGKILL would leave the SQLite state), a fresh worker on the same state
store runs, and every ticket ends with one briefing, one customer reply, its playbook's tasks
created once, and the ledger with no open intent. A third run writes nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from esc_sync.apply.applier import CRASH_POINTS
from esc_sync.apply.bulk import BulkSettings
from esc_sync.apply.recorder import AuditLog
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import Crash, FakeConnector, FakeHelpdesk
from .test_bulk import NOW, RULES, BulkFake, assert_exactly_once, burst


class CountingTasks(dict[str, Any]):
    """The helpdesk's tasks by external id, counting every creation (a duplicate shows)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: Counter[str] = Counter()

    def __setitem__(self, key: str, value: Any) -> None:
        self.created[key] += 1
        super().__setitem__(key, value)


class DieAt:
    """A crash hook: raises `Crash` the n-th time the named point is passed."""

    def __init__(self, point: str, nth: int) -> None:
        self.point, self.left, self.fired = point, nth, False

    def __call__(self, point: str) -> None:
        if point != self.point or self.fired:
            return
        self.left -= 1
        if self.left == 0:
            self.fired = True
            raise Crash(f"killed at {point}")


def worker(tmp_path: Path, bulk: bool, crash: DieAt | None = None) -> Worker:
    """A worker on the shared state file (a new process each time it is called)."""
    settings = BulkSettings(threshold=5 if bulk else 1000, wait=0.0, poll_every=0.0,
                            sleep=lambda _s: None)
    return Worker(policy=load_policy(RULES), store=Store(tmp_path / "state.db"),
                  audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: NOW, bulk=settings,
                  crash_point=crash or (lambda point: None))


def moves_without_entry(store: Store) -> list[int]:
    """Tickets with a tier move recorded done in the ledger but no tier entry for it: the
    escalation would have no deadlines and no ladder (nothing reads the move again)."""
    out = []
    for tid in range(1, 9):
        ledger = store.ledger("fake", tid, store.episode("fake", tid))
        moves = [
            e.detail["enter"]["tier"]
            for k, e in ledger.items()
            if k.startswith("rule:") and e.state == "done" and e.detail.get("enter")
        ]
        entry = store.active_entry("fake", tid)
        if moves and (entry is None or entry.tier != moves[-1]):
            out.append(tid)
    return out


SINGLE = [("after-intent", 1), ("after-update", 1), ("after-update", 3), ("after-reply", 2),
          ("after-task", 1), ("after-task", 7)]
BULK = [("after-intent", 1), ("after-bulk-submit", 1), ("after-bulk-submit", 2),
        ("after-bulk-submit", 3), ("after-bulk-submit", 5)]


def test_every_crash_point_is_exercised() -> None:
    # after-send: tests/notify/test_notifications.py kills the worker around a message
    assert {p for p, _ in SINGLE + BULK} | {"after-send"} == set(CRASH_POINTS)


@pytest.mark.parametrize(
    ("bulk", "point", "nth"),
    [(False, p, n) for p, n in SINGLE] + [(True, p, n) for p, n in BULK],
    ids=[f"single-{p}-{n}" for p, n in SINGLE] + [f"bulk-{p}-{n}" for p, n in BULK],
)
def test_a_restart_after_a_crash_finishes_the_work_exactly_once(
    tmp_path: Path, bulk: bool, point: str, nth: int
) -> None:
    desk = FakeHelpdesk(NOW)
    desk.tasks = CountingTasks()
    connector: FakeConnector = BulkFake(desk) if bulk else FakeConnector(desk)
    burst(desk, 8)
    crash = DieAt(point, nth)

    with pytest.raises(Crash):
        worker(tmp_path, bulk, crash).run_cycle(connector)
    assert crash.fired
    assert moves_without_entry(Store(tmp_path / "state.db")) == []

    restarted = worker(tmp_path, bulk)
    restarted.run_cycle(connector)
    assert_exactly_once(desk, 8)
    assert max(desk.tasks.created.values()) == 1, "a task was created twice"
    assert restarted.store.open_intents("fake") == []

    writes_before = (len(desk.writes), sum(desk.tasks.created.values()))
    worker(tmp_path, bulk).run_cycle(connector)
    assert (len(desk.writes), sum(desk.tasks.created.values())) == writes_before


def test_recovery_reads_the_tickets_it_must_read_many_a_request(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    # the batch's intents are announced, no job submitted: nothing proves what landed
    with pytest.raises(Crash):
        worker(tmp_path, True, DieAt("after-intent", 1)).run_cycle(connector)
    before = Counter(connector.calls)

    report = worker(tmp_path, True).run_cycle(connector)

    spent = Counter(connector.calls)
    spent.subtract(before)
    assert report.recovered == 8
    assert spent["GET show_many"] == 1 and spent["GET ticket"] == 0
    assert spent["GET comments"] >= 8  # the markers: one comment read per ticket
    assert_exactly_once(desk, 8)
