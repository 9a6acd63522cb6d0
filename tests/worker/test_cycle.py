"""The worker's cycle against an in-memory helpdesk: plan, apply, dry-run, crash, re-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import Comment, Organization, Person, Ticket
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import Crash, FakeConnector, FakeHelpdesk

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def manager_ticket(tid: int = 1, **kw: object) -> Ticket:
    """An open ticket whose customer asks for a manager."""
    base: dict[str, object] = dict(
        id=tid, subject="Billing mess", description="I want to speak to your manager now.",
        status="open", priority="normal", group=1, tier="t1", tags=("billing",),
        created_at=NOW - timedelta(hours=1), updated_at=NOW - timedelta(minutes=5),
        requester=Person(id=500 + tid, name="Dana", email="dana@example.com"),
        organization=Organization(id=7, name="Acme Corp"), reopens=0, agent_replies=0,
    )
    base.update(kw)
    return Ticket(**base)  # type: ignore[arg-type]


def customer_said(tid: int, text: str) -> Comment:
    """The requester's comment on a ticket."""
    return Comment(id=tid * 10, author_id=500 + tid, body=text, public=True,
                   created_at=NOW - timedelta(hours=1), author_role="customer")


@pytest.fixture()
def world(tmp_path: Path) -> tuple[FakeHelpdesk, FakeConnector, Worker, Store, Path]:
    """A helpdesk, a connector, and a worker with the default policy and a fresh store."""
    desk = FakeHelpdesk(NOW)
    connector = FakeConnector(desk)
    store = Store(tmp_path / "state.db")
    audit_path = tmp_path / "audit.jsonl"
    worker = Worker(policy=load_policy(RULES), store=store, audit=AuditLog(audit_path),
                    clock=lambda: NOW)
    return desk, connector, worker, store, audit_path


def test_manager_request_is_escalated_once(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, _, _ = world
    desk.add(manager_ticket(), [customer_said(1, "I want to speak to your manager now.")])

    first = worker.run_cycle(connector)

    assert first.updates == 1
    ticket = desk.tickets[1]
    assert ticket.group == 2 and ticket.tier == "t2"
    assert "esc-manager-request" in ticket.tags and "billing" in ticket.tags
    assert ticket.priority == "high"
    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 1 and "esc-sync:manager-request:t2:ep1" in notes[0].body
    replies = [c for c in desk.comments[1] if c.author_role == "worker" and c.public]
    assert len(replies) == 1
    assert first.tasks_created == len(desk.tasks) == 6
    update = desk.writes[0]
    assert update.custom_fields["respond_by"] == "2026-03-02T17:00:00Z"  # t2 responds in 2h
    assert update.custom_fields["resolve_by"] == "2026-03-03T15:00:00Z"  # and resolves in 1d
    second = worker.run_cycle(connector)
    assert second.updates == 0 and second.tasks_created == 0
    assert len([c for c in desk.comments[1] if c.author_role == "worker"]) == 2
    assert len(desk.tasks) == 6


def test_dry_run_writes_nothing_and_keeps_the_bookmark(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, audit_path = world
    desk.add(manager_ticket(), [customer_said(1, "Get me a supervisor.")])

    report = worker.run_cycle(connector, dry_run=True)

    assert report.rows and report.rows[0].tier_to == "t2" and report.rows[0].tasks == 6
    assert desk.writes == [] and desk.tasks == {}
    assert store.bookmark("fake") is None
    assert store.ledger_count("fake") == 0 and store.mirror_count("fake") == 0
    assert '"outcome": "dry-run"' in audit_path.read_text()
    live = worker.run_cycle(connector)
    assert live.updates == 1


def test_conflict_rereads_and_applies_once(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, _, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    desk.conflict_next = 1

    report = worker.run_cycle(connector)

    assert report.conflicts == 1 and report.updates == 1
    assert sum(1 for w in desk.writes if w.note) == 1


def test_crash_between_note_and_tasks_finishes_without_repeating(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    desk.crash_on_task = 3

    with pytest.raises(Crash):
        worker.run_cycle(connector)
    assert len(desk.tasks) == 2 and store.bookmark("fake") is None

    report = worker.run_cycle(connector)  # the restart

    assert report.recovered == 1
    assert sum(1 for w in desk.writes if w.note) == 1  # the note went out once
    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 1
    assert len(desk.tasks) == 6
    assert store.ledger_count("fake", "intent") == 0


def test_crash_before_the_write_lands_plans_it_again(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    desk.crash_before_put = True

    with pytest.raises(Crash):
        worker.run_cycle(connector)
    assert store.ledger_count("fake", "intent") > 0

    report = worker.run_cycle(connector)

    assert report.updates == 1
    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 1 and len(desk.tasks) == 6


def test_reopened_ticket_starts_a_new_episode(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, _, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker.run_cycle(connector)
    desk.touch(1, status="solved")
    solved = worker.run_cycle(connector)
    assert solved.tasks_created == 2  # follow-up and review, anchored on resolution
    desk.touch(1, status="open", group=1, tier="t1")
    desk.comments[1].append(customer_said(1, "It broke again. Manager, now."))

    worker.run_cycle(connector)

    notes = [c.body for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    assert len(notes) == 2 and "esc-sync:manager-request:t2:ep2" in notes[1]


def test_human_moving_the_ticket_down_is_respected(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, _, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    worker.run_cycle(connector)
    desk.touch(1, group=1, tier="t1")

    report = worker.run_cycle(connector)

    assert report.updates == 0 and desk.tickets[1].group == 1


def test_decoy_is_left_alone(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, _, audit_path = world
    desk.add(manager_ticket(description="How do I export invoices?"),
             [customer_said(1, "How do I export invoices?")])

    report = worker.run_cycle(connector)

    assert report.updates == 0 and desk.writes == []
    assert '"outcome": "no-change"' in audit_path.read_text()


def test_unreadable_record_is_dead_lettered_and_the_bookmark_moves(world):  # type: ignore[no-untyped-def]
    _, connector, worker, store, audit_path = world
    from esc_sync.connectors.base import Page, SkippedRecord

    def pages(bookmark, start):  # type: ignore[no-untyped-def]
        yield Page(tickets=[], bookmark="c9", end_of_stream=True,
                   skipped=[SkippedRecord(77, "created_at: not a timestamp", {"id": 77})])

    connector.iter_changes = pages  # type: ignore[method-assign]

    report = worker.run_cycle(connector)

    assert report.skipped == 1
    assert store.bookmark("fake") == "c9"
    assert store.dead_letters()[0]["ticket"] == 77
    assert "not a timestamp" in store.dead_letters()[0]["reason"]
    assert '"outcome": "skipped"' in audit_path.read_text()


def test_a_write_refused_for_one_ticket_does_not_stop_the_others(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _ = world
    from esc_sync.errors import SkippableError

    desk.add(manager_ticket(1), [customer_said(1, "manager please")])
    desk.add(manager_ticket(2), [customer_said(2, "supervisor please")])
    real = connector.apply_update

    def refuse_first(update):  # type: ignore[no-untyped-def]
        if update.ticket_id == 1:
            raise SkippableError("closed ticket", status=422, ticket_id=1)
        return real(update)

    connector.apply_update = refuse_first  # type: ignore[method-assign]

    report = worker.run_cycle(connector)

    assert report.skipped == 1 and report.updates == 1
    assert desk.tickets[2].tier == "t2" and desk.tickets[1].tier == "t1"
    assert store.ledger("fake", 1, 1) == {}  # nothing recorded as done for the refused ticket
    assert store.bookmark("fake") is not None


def test_a_stop_request_mid_page_keeps_the_bookmark_before_that_page(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _ = world
    for tid in (1, 2, 3):
        desk.add(manager_ticket(tid), [customer_said(tid, "manager please")])
    handled: list[int] = []
    real = connector.load_comments

    def count(ticket):  # type: ignore[no-untyped-def]
        handled.append(ticket.id)
        return real(ticket)

    connector.load_comments = count  # type: ignore[method-assign]
    worker.should_stop = lambda: len(handled) >= 1

    report = worker.run_cycle(connector)

    assert report.stopped_early and report.updates == 1
    assert store.bookmark("fake") is None
    worker.should_stop = lambda: False
    again = worker.run_cycle(connector)
    assert again.updates == 2  # the other two; the first is not written twice
    assert sum(1 for w in desk.writes if w.note) == 3


def test_a_write_whose_answer_was_lost_is_not_written_again(world):  # type: ignore[no-untyped-def]
    desk, connector, worker, store, _ = world
    desk.add(manager_ticket(), [customer_said(1, "manager please")])
    real = connector.apply_update
    lost: list[int] = []

    def lands_but_answers_409(update):  # type: ignore[no-untyped-def]
        real(update)  # the helpdesk applied it; the answer never came back, the retry got 409
        if not lost:
            lost.append(update.ticket_id)
            from esc_sync.errors import ConflictError

            raise ConflictError("stale stamp on retry", status=409, ticket_id=update.ticket_id)
        return desk.tickets[update.ticket_id].version

    connector.apply_update = lands_but_answers_409  # type: ignore[method-assign]

    worker.run_cycle(connector)
    worker.run_cycle(connector)  # its recovery finishes what followed the note

    notes = [c for c in desk.comments[1] if c.author_role == "worker" and not c.public]
    replies = [c for c in desk.comments[1] if c.author_role == "worker" and c.public]
    assert len(notes) == 1 and len(replies) == 1
    assert len(desk.tasks) == 6
    assert store.ledger_count("fake", "intent") == 0
    assert store.ledger("fake", 1, 1)["rule:manager-request"].state == "done"
    assert store.active_entry("fake", 1) is not None
