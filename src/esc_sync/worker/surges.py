"""Surge rules: keep each rule's hit list current, and fire earlier hits once a surge forms.

A surge rule (`surge = { at_least = 5, within = "1h" }`) matches a ticket only when enough
tickets hit it within the window. Hits are kept in the state store as tickets are read; when a
new hit completes a surge, the earlier tickets of the window are read again and handled too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.model import Ticket
from esc_sync.policy import Policy
from esc_sync.policy.engine import surge_count
from esc_sync.state.protocol import StateStore


class Host(Protocol):
    """What surge bookkeeping uses of the worker that runs it."""

    policy: Policy
    store: StateStore

    def enrich(self, name: str, ticket: Ticket, now: datetime) -> Ticket: ...

    def handle(
        self, connector: Connector, ticket: Ticket, now: datetime, report: CycleReport
    ) -> None: ...


class Surges:
    """The worker's surge bookkeeping."""

    def __init__(self, worker: Host) -> None:
        self.worker = worker

    def windows(self) -> dict[str, timedelta]:
        """Surge rule ids and their window lengths."""
        return self.worker.policy.surge_windows()

    def record_hits(self, name: str, tickets: Iterable[Ticket], now: datetime) -> set[str]:
        """Keep each surge rule's hit list current; return the rules that gained hits."""
        rules = self.windows()
        if not rules:
            return set()
        touched: set[str] = set()
        for ticket in tickets:
            hits = set(self.worker.policy.surge_candidates(ticket, now))
            for rule_id in rules:
                if self.worker.store.set_surge_hit(
                    name, rule_id, ticket.id, ticket.created_at, rule_id in hits
                ):
                    touched.add(rule_id)
        return touched

    def backfill(
        self,
        connector: Connector,
        rules: set[str],
        handled: set[int],
        now: datetime,
        report: CycleReport,
    ) -> None:
        """Earlier hits of a surge that has just reached its threshold fire too."""
        windows = self.windows()
        name = connector.name
        pending: set[int] = set()
        for rule_id in rules:
            hits = self.worker.store.surge_hits(name, rule_id, now - timedelta(days=3650), now)
            for tid, _ in hits:
                if tid in handled:
                    continue
                episode = self.worker.store.episode(name, tid)
                if f"rule:{rule_id}" in self.worker.store.ledger(name, tid, episode):
                    continue
                within = windows[rule_id]
                times = [at for _, at in hits]
                mine = next(at for t, at in hits if t == tid)
                if surge_count(times, mine, within) >= self.worker.policy.surge_threshold(rule_id):
                    pending.add(tid)
        if not pending:
            return
        for ticket in connector.fetch_tickets(sorted(pending)):
            self.worker.store.observe(name, ticket)
            self.worker.handle(connector, self.worker.enrich(name, ticket, now), now, report)
