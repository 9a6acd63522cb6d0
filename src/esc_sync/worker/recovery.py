"""Crash recovery: settle ledger intents left open between announcing and recording a write.

An open intent is resolved by reading the ticket (the note's marker, the task's external id)
before anything is written again: a write that landed is recorded, one that did not is
forgotten and planned afresh, and tasks announced with a landed update are found or created.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from esc_sync.connectors.base import Connector
from esc_sync.errors import SkippableError
from esc_sync.model import TaskCreate

if TYPE_CHECKING:
    from esc_sync.worker.cycle import CycleReport, Worker

from esc_sync.worker.planner import has_reply

log = structlog.get_logger("esc_sync.recovery")


def recover(worker: Worker, connector: Connector, report: CycleReport) -> None:
    """Settle intents left open by a crash: read the ticket, finish or forget the write."""
    name = connector.name
    by_ticket: dict[tuple[int, int], list[Any]] = {}
    for entry in worker.store.open_intents(name):
        by_ticket.setdefault((entry.ticket_id, entry.episode), []).append(entry)
    for (ticket_id, episode), entries in by_ticket.items():
        try:
            _recover_ticket(worker, connector, ticket_id, episode, entries)
            report.recovered += 1
        except SkippableError as exc:
            worker.store.forget_intents(name, ticket_id, episode)
            worker.store.dead_letter(name, ticket_id, f"recovery: {exc}", None, worker.clock())


def _recover_ticket(
    worker: Worker, connector: Connector, ticket_id: int, episode: int, entries: list[Any]
) -> None:
    """Recover one ticket's open intents."""
    name, store = connector.name, worker.store
    rules = [e for e in entries if "marker" in e.detail]
    ticket = connector.load_comments(connector.fetch_ticket(ticket_id))
    if rules:
        markers = ticket.markers()
        if not all(e.detail.get("marker") in markers for e in rules):
            log.info(
                "write did not land before the crash; it will be planned again",
                connector=name,
                ticket=ticket_id,
            )
            store.forget_intents(name, ticket_id, episode)
            return
        for e in rules:
            store.record_done(name, ticket_id, episode, e.key, worker.clock())
            enter = e.detail.get("enter")
            active = store.active_entry(name, ticket_id)
            if enter and (active is None or active.tier != enter["tier"]):
                store.enter_tier(
                    name,
                    ticket_id,
                    episode,
                    enter["tier"],
                    datetime.fromisoformat(enter["at"]),
                    datetime.fromisoformat(enter["respond_by"]),
                    datetime.fromisoformat(enter["resolve_by"]),
                )
    markers = ticket.markers()
    for e in entries:
        after = e.detail.get("after_marker")
        if after is not None and after not in markers:
            store.forget_keys(name, ticket_id, episode, [e.key])  # its update never landed
            continue
        if e.key == "reply":
            message = str(e.detail["message"])
            if not has_reply(ticket, message):
                worker.send_reply(connector, ticket_id, ticket.version, message)
            store.record_done(name, ticket_id, episode, e.key, worker.clock())
        elif e.key.startswith("task:"):
            fields = {k: v for k, v in e.detail.items() if k != "after_marker"}
            due = fields.get("due_at")
            task = TaskCreate(**{**fields, "due_at": datetime.fromisoformat(due) if due else None})
            task_id = connector.find_task(task.external_id) or connector.create_task(task)
            store.record_done(name, ticket_id, episode, e.key, worker.clock(), {"task_id": task_id})
    log.info("recovered interrupted writes", connector=name, ticket=ticket_id)
