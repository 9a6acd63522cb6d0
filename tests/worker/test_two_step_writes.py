"""Connectors that write fields and note in two requests (RT, Freshdesk): a crash between them.

The ticket is then in its new tier without the note's marker. Recovery must finish the move
(note, tier entry, playbook tasks), not plan afresh from a ticket that already looks moved.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import TicketUpdate
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import Crash, FakeConnector, FakeHelpdesk
from .test_cycle import customer_said, manager_ticket

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class TwoStep(FakeConnector):
    """Fields in one request, the note in a second one; can die between the two."""

    crash_between = False

    def apply_update(self, update: TicketUpdate) -> str | None:
        fields = dataclasses.replace(update, note=None)
        version = update.version
        if not fields.is_empty():
            version = super().apply_update(fields)
        if update.note is not None:
            if self.crash_between:
                self.crash_between = False
                raise Crash("died between the field update and the note")
            version = super().apply_update(
                TicketUpdate(ticket_id=update.ticket_id, version=None, note=update.note)
            )
        return version


def worker_for(tmp_path: Path) -> Worker:
    return Worker(policy=load_policy(RULES), store=Store(tmp_path / "state.db"),
                  audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: NOW)


def test_a_crash_between_fields_and_note_finishes_the_move(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = TwoStep(desk)
    desk.add(manager_ticket(), [customer_said(1, "I want to speak to your manager now.")])
    connector.crash_between = True

    with pytest.raises(Crash):
        worker_for(tmp_path).run_cycle(connector)
    assert desk.tickets[1].tier == "t2"  # the fields landed, the note did not
    assert not desk.tickets[1].markers() and not any(
        "esc-sync:" in c.body for c in desk.comments[1]
    )

    worker = worker_for(tmp_path)
    report = worker.run_cycle(connector)

    notes = [c for c in desk.comments[1] if "esc-sync:manager-request:t2:ep1" in c.body]
    assert len(notes) == 1
    assert report.recovered == 1
    tasks = [t for t in desk.tasks.values() if t.parent_ticket == 1]
    assert tasks, "the playbook's tasks were lost"
    assert len({t.external_id for t in tasks}) == len(tasks)
    assert worker.store.active_entry("fake", 1) is not None
    assert worker.store.active_entry("fake", 1).tier == "t2"  # type: ignore[union-attr]
    replies = [c for c in desk.comments[1] if c.public and c.author_role == "worker"]
    assert len(replies) == 1
    again = worker.run_cycle(connector)
    assert again.updates == 0 and again.tasks_created == 0
