"""The due sweep writes through the same applier as a polled cycle: bulk jobs for a burst of
due tickets, single writes below the threshold, and each ladder step exactly once."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from esc_sync.apply.bulk import BulkSettings
from esc_sync.apply.recorder import AuditLog
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import FakeHelpdesk
from .test_bulk import NOW, RULES, BulkFake, burst
from .test_ladder import FAST_TIERS


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def moves_per_ticket(desk: FakeHelpdesk) -> Counter[int]:
    """How many "missed response" move notes each ticket got."""
    return Counter(
        tid for tid, comments in desk.comments.items() for c in comments
        if c.author_role == "worker" and "esc-sync:missed-response:t3:ep1" in c.body
    )


@pytest.mark.parametrize(("tickets", "bulk_writes"), [(30, True), (3, False)])
def test_a_missed_deadline_moves_every_due_ticket_once(
    tmp_path: Path, tickets: int, bulk_writes: bool
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "tiers.toml").write_text(FAST_TIERS)
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    connector.bulk_limit = 100
    burst(desk, tickets)
    clock = Clock()
    settings = BulkSettings(threshold=20, wait=0.0, poll_every=0.0, sleep=lambda _s: None)
    worker = Worker(policy=load_policy(rules), store=Store(tmp_path / "state.db"),
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock, bulk=settings)
    worker.run_cycle(connector)
    assert all(desk.tickets[t].tier == "t2" for t in range(1, tickets + 1))
    clock.now = NOW + timedelta(minutes=1)
    worker.run_cycle(connector)  # the next poll brings the mirror the tickets as written

    clock.now = NOW + timedelta(minutes=21)  # past the 20m response deadline (and reminder)
    connector.calls.clear()
    worker.sweep(connector)
    worker.sweep(connector)

    assert moves_per_ticket(desk) == Counter(range(1, tickets + 1))
    assert all(desk.tickets[t].tier == "t3" for t in range(1, tickets + 1))
    assert not [k for k in connector.calls if k.startswith("GET") and "job" not in k]  # no reads
    if bulk_writes:
        assert connector.calls["PUT ticket"] == 0 and connector.calls["PUT update_many"] >= 1
    else:
        assert connector.calls["PUT ticket"] == tickets and connector.calls["PUT update_many"] == 0
