"""The worker reads comments in bulk when the connector can, per ticket only as a fallback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import Comment, Ticket
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import NOW, RULES, customer_said, manager_ticket


class PrefetchingConnector(FakeConnector):
    """A fake connector that hands back the comments of the tickets not in `withhold`."""

    def __init__(self, desk: FakeHelpdesk, withhold: frozenset[int] = frozenset()) -> None:
        """The fake connector, plus the ids whose comments the bulk read cannot vouch for."""
        super().__init__(desk)
        self.withhold = withhold
        self.asked: list[list[int]] = []

    def prefetch_comments(self, tickets: Sequence[Ticket]) -> dict[int, list[Comment]]:
        """Every wanted ticket's comments in one call, except the withheld ones."""
        self.calls["GET ticket_events"] += 1
        self.asked.append([t.id for t in tickets])
        return {
            t.id: list(self.desk.comments.get(t.id, []))
            for t in tickets
            if t.id not in self.withhold
        }


def _worker(tmp_path: Path) -> tuple[Worker, Store]:
    """A worker with the default policy and a fresh store."""
    store = Store(tmp_path / "state.db")
    worker = Worker(policy=load_policy(RULES), store=store, audit=AuditLog(None), clock=lambda: NOW)
    return worker, store


def test_one_bulk_read_replaces_the_per_ticket_reads(tmp_path: Path) -> None:
    """Three tickets needing comments: one bulk call, no per-ticket comment GET, same outcome."""
    desk = FakeHelpdesk(NOW)
    for tid in (1, 2, 3):
        text = "I want to speak to your manager now." if tid == 1 else "How do I export?"
        desk.add(manager_ticket(tid, description=text), [customer_said(tid, text)])
    connector = PrefetchingConnector(desk)
    worker, _ = _worker(tmp_path)

    report = worker.run_cycle(connector)

    assert connector.calls["GET ticket_events"] == 1
    assert connector.calls["GET comments"] == 0
    assert report.updates == 1 and desk.tickets[1].tier == "t2"
    assert desk.tickets[2].tier == "t1" and desk.tickets[3].tier == "t1"


def test_a_withheld_ticket_falls_back_to_its_own_read(tmp_path: Path) -> None:
    """A ticket the bulk read cannot vouch for is read on its own, and still escalated."""
    desk = FakeHelpdesk(NOW)
    desk.add(manager_ticket(1), [customer_said(1, "manager please")])
    desk.add(manager_ticket(2), [customer_said(2, "get me a supervisor")])
    connector = PrefetchingConnector(desk, withhold=frozenset({2}))
    worker, _ = _worker(tmp_path)

    report = worker.run_cycle(connector)

    assert connector.calls["GET comments"] == 1
    assert report.updates == 2


def test_markers_in_bulk_comments_are_adopted_and_never_fire_twice(tmp_path: Path) -> None:
    """A state store started afresh: the marker found in bulk comments stops a second note."""
    desk = FakeHelpdesk(NOW)
    desk.add(manager_ticket(1), [customer_said(1, "manager please")])
    first, _ = _worker(tmp_path / "a")
    first.run_cycle(PrefetchingConnector(desk))
    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 1
    desk.touch(1, tier="t1", group=1)  # a human moved it back; the rule must not fire again

    again, store = _worker(tmp_path / "b")  # a fresh state store: only the marker tells
    connector = PrefetchingConnector(desk)
    again.run_cycle(connector)

    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 1
    assert connector.calls["GET comments"] == 0
    assert store.ledger("fake", 1, 1)["rule:manager-request"].state == "done"
