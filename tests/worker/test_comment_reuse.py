"""Comment text kept in the mirror: a ticket is not read again until a comment comes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import Comment
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import NOW, RULES, customer_said, manager_ticket

HOUR_AGO = NOW - timedelta(hours=1)


def _world(tmp_path: Path, latest: object = HOUR_AGO) -> tuple[FakeHelpdesk, FakeConnector, Worker]:
    """One open ticket whose customer asked a plain question an hour ago."""
    desk = FakeHelpdesk(NOW)
    desk.add(
        manager_ticket(1, description="How do I export?", latest_comment_at=latest),
        [customer_said(1, "How do I export?")],
    )
    worker = Worker(
        policy=load_policy(RULES), store=Store(tmp_path / "state.db"), audit=AuditLog(None),
        clock=lambda: NOW,
    )
    return desk, FakeConnector(desk), worker


def test_a_change_without_a_new_comment_takes_the_text_from_the_mirror(tmp_path: Path) -> None:
    desk, connector, worker = _world(tmp_path)
    worker.run_cycle(connector)
    assert connector.calls["GET comments"] == 1

    desk.touch(1, tags=("billing", "renewal"))  # a person retags it; no comment
    worker.run_cycle(connector)

    assert connector.calls["GET comments"] == 1  # not read again
    mirrored = worker.store.mirrored("fake", 1)
    assert mirrored is not None and mirrored.tags == ("billing", "renewal")
    assert mirrored.latest_customer_comment == "How do I export?"
    assert "latest_customer_comment" not in mirrored.unknown
    assert desk.tickets[1].tier == "t1"  # the plain question still escalates nothing


def test_a_new_comment_is_read_and_decides(tmp_path: Path) -> None:
    desk, connector, worker = _world(tmp_path)
    worker.run_cycle(connector)

    later = NOW - timedelta(minutes=5)
    desk.comments[1].append(
        Comment(id=11, author_id=501, body="Get me your manager.", public=True,
                created_at=later, author_role="customer")
    )
    desk.touch(1, latest_comment_at=later)
    worker.run_cycle(connector)

    assert connector.calls["GET comments"] == 2
    assert desk.tickets[1].tier == "t2"  # escalated on the new text


def test_without_a_newest_comment_time_every_change_is_read(tmp_path: Path) -> None:
    """A helpdesk that does not say when the newest comment came (RT, Freshdesk) is read."""
    desk, connector, worker = _world(tmp_path, latest=None)
    worker.run_cycle(connector)
    desk.touch(1, tags=("billing", "renewal"))
    worker.run_cycle(connector)
    assert connector.calls["GET comments"] == 2


def test_a_comment_read_within_a_minute_of_the_newest_comment_is_not_vouched_for(
    tmp_path: Path,
) -> None:
    """Another comment in the same second, or a helpdesk clock ahead of ours, could be
    missing from a read made so soon: the next change reads again."""
    desk, connector, worker = _world(tmp_path, latest=NOW - timedelta(seconds=30))
    worker.run_cycle(connector)
    desk.touch(1, tags=("billing", "renewal"))
    worker.run_cycle(connector)
    assert connector.calls["GET comments"] == 2
