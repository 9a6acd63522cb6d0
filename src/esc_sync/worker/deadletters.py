"""Retry the dead-letter list: re-read each ticket and run it through the worker once.

for each (connector, ticket) with dead letters:
    recovery first (open ledger intents are settled by reading, never written twice)
    fetch the ticket ── SkippableError ──► still dead: its letters are replaced by the new reason
    observe + enrich + worker.handle()
        ├─ handled (applied or nothing to do) ──► its dead letters are deleted
        └─ skipped again ──► handle() wrote a fresh letter; the older ones are deleted
letters without a ticket id (a payload we could not even parse) cannot be re-read: kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.errors import SkippableError
from esc_sync.worker.cycle import Worker

log = structlog.get_logger("esc_sync.deadletters")


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What retrying one dead ticket did."""

    connector: str
    ticket: int | None
    ok: bool
    detail: str


def retry_dead_letters(
    worker: Worker, connectors: Sequence[Connector], now: datetime
) -> list[RetryResult]:
    """Re-run every dead-lettered ticket once; delete the letters of those that succeed."""
    results: list[RetryResult] = []
    for connector in connectors:
        letters = worker.store.dead_letters(connector.name)
        if not letters:
            continue
        report = CycleReport(connector=connector.name, dry_run=False)
        worker.recover(connector, report)
        newest: dict[int, int] = {}
        for row in letters:
            if row["ticket"] is None:
                results.append(RetryResult(connector.name, None, False, "no ticket id to re-read"))
                continue
            newest[int(row["ticket"])] = max(newest.get(int(row["ticket"]), 0), int(row["id"]))
        for ticket_id, up_to in sorted(newest.items()):
            results.append(_retry_one(worker, connector, ticket_id, up_to, now, report))
    return results


def _retry_one(
    worker: Worker,
    connector: Connector,
    ticket_id: int,
    up_to: int,
    now: datetime,
    report: CycleReport,
) -> RetryResult:
    """Re-read and handle one ticket; clear or refresh its dead letters."""
    name = connector.name
    try:
        ticket = connector.fetch_ticket(ticket_id)
    except SkippableError as exc:
        worker.store.dead_letter(name, ticket_id, str(exc), None, now)
        worker.store.forget_dead_letters(name, ticket_id, up_to)
        log.warning("dead letter still unreadable", connector=name, ticket=ticket_id)
        return RetryResult(name, ticket_id, False, str(exc))
    skipped_before = report.skipped
    worker.store.observe(name, ticket)
    worker.handle(connector, worker.enrich(name, ticket, now), now, report)
    if report.skipped > skipped_before:
        worker.store.forget_dead_letters(name, ticket_id, up_to)  # the fresh letter stays
        reason = worker.store.dead_letters(name)[-1]["reason"]
        log.warning("dead letter failed again", connector=name, ticket=ticket_id)
        return RetryResult(name, ticket_id, False, str(reason))
    worker.store.forget_dead_letters(name, ticket_id)
    log.info("dead letter retried", connector=name, ticket=ticket_id)
    return RetryResult(name, ticket_id, True, "handled")
