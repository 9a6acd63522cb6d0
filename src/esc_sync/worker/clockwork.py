"""The clock: tier entries, the due index and the ladder, worked from the mirror.

Between polls the worker looks only at tickets whose due instant has come (a deadline, a
reminder, a time condition turning true), evaluates them from the mirror, and talks to the
helpdesk only to write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import structlog

from esc_sync.apply.applier import Applier
from esc_sync.apply.bulk import Deferred, queue_into
from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.model import CLOSED_STATUSES, Ticket
from esc_sync.plan.ladder import pending_steps, plan_ladder
from esc_sync.plan.retarget import entry_basis, retarget_due
from esc_sync.plan.ticket import TicketPlan
from esc_sync.policy import Policy
from esc_sync.state.facts import gather_facts, vouch_comments
from esc_sync.state.protocol import StateStore

log = structlog.get_logger("esc_sync.clock")


class Host(Protocol):
    """What the clockwork uses of the worker that runs it."""

    policy: Policy
    store: StateStore
    applier: Applier
    clock: Callable[[], datetime]
    should_stop: Callable[[], bool]

    def enrich(self, name: str, ticket: Ticket, now: datetime) -> Ticket: ...

    def handle(
        self,
        connector: Connector,
        ticket: Ticket,
        now: datetime,
        report: CycleReport,
        batch: dict[int, Deferred] | None = None,
    ) -> None: ...

    def bulk_capable(self, connector: Connector, report: CycleReport) -> bool: ...

    def write_batch(
        self, connector: Connector, batch: dict[int, Deferred], now: datetime, report: CycleReport
    ) -> None: ...


class Clockwork:
    """The worker's time-driven side: follows tier entries and acts when they come due."""

    def __init__(self, worker: Host) -> None:
        self.worker = worker

    def track(self, connector: Connector, ticket: Ticket, now: datetime) -> Ticket:
        """Follow the tier entry the worker watches: response, pause, resolution, a human move."""
        name = connector.name
        entry = self.worker.store.active_entry(name, ticket.id)
        if entry is None:
            return ticket
        episode = self.worker.store.episode(name, ticket.id)
        if ticket.status in CLOSED_STATUSES or entry.episode != episode:
            # solved, or reopened since (a new episode): the entry's deadlines are over
            self.worker.store.update_entry(entry, "resolved")
            return ticket
        if ticket.tier != entry.tier or entry.tier not in {t.id for t in self.worker.policy.tiers}:
            log.info(
                "ticket moved by a person; the ladder steps aside",
                connector=name,
                ticket=ticket.id,
                tier=ticket.tier,
            )
            self.worker.store.update_entry(entry, "moved")
            return ticket
        pause_on = set(self.worker.policy.tier(entry.tier).pause_on)
        if ticket.status in pause_on and entry.paused_since is None:
            entry.paused_since = now
        elif ticket.status not in pause_on and entry.paused_since is not None:
            ledger = self.worker.store.ledger(name, ticket.id, episode)
            basis = entry_basis(ledger, entry)
            sla = basis[0] if basis is not None else None
            since, policy = entry.paused_since, self.worker.policy
            entry.resolve_by = policy.resume(entry.tier, entry.resolve_by, since, now, sla)
            entry.paused_since = None
        if entry.responded_at is None:
            if not ticket.comments_loaded:
                ticket = vouch_comments(connector.load_comments(ticket), now)
                self.worker.store.observe(name, ticket)
            replies = [
                c.created_at
                for c in ticket.comments
                if c.author_role == "agent" and c.created_at > entry.entered_at
            ]
            entry.responded_at = min(replies, default=None)
        self.worker.store.update_entry(entry)
        return ticket

    def reschedule(self, name: str, ticket_id: int, now: datetime) -> None:
        """Keep the due index at the next instant this ticket's decision could change."""
        ticket = self.worker.store.mirrored(name, ticket_id)
        if ticket is None or ticket.status in CLOSED_STATUSES or ticket.is_worker_task:
            self.worker.store.set_due(name, ticket_id, None)
            return
        episode = self.worker.store.episode(name, ticket_id)
        ledger = self.worker.store.ledger(name, ticket_id, episode)
        done = {k for k, e in ledger.items() if e.state == "done"}
        fired = frozenset(k[5:] for k in done if k.startswith("rule:"))
        instants = []
        entry = self.worker.store.active_entry(name, ticket_id)
        if entry is not None and entry.episode == episode:
            policy = self.worker.policy
            basis = entry_basis(ledger, entry)
            sla = basis[0] if basis is not None else None
            instants += [step.at for step in pending_steps(policy, entry, done, sla)]
            if retarget_due(policy, ticket, entry, ledger, now) is not None:
                instants.append(now)  # the sweep counts its deadlines again
        flip = self.worker.policy.next_time_change(ticket, now, fired)
        if flip is not None:
            instants.append(flip)
        self.worker.store.set_due(name, ticket_id, min(instants, default=None))

    def sweep(self, connector: Connector, report: CycleReport) -> None:
        """Every ticket that is due, from the mirror: first the ladder steps, then the time
        rules (on the mirror as the ladder left it). On a bulk writer each pass is written in
        bulk jobs; a stop drops the unwritten batch, and those tickets stay due."""
        host, name = self.worker, connector.name
        now = host.clock()
        tickets: list[Ticket] = []
        for ticket_id in host.store.due_tickets(name, now):
            ticket = host.store.mirrored(name, ticket_id)
            if ticket is None:
                host.store.set_due(name, ticket_id, None)
            else:
                tickets.append(host.enrich(name, ticket, now))
        if not tickets:
            return
        batch: dict[int, Deferred] = {}
        collect = batch if host.bulk_capable(connector, report) else None
        ladder = self.ladder(connector, now)
        for ticket in tickets:
            if host.should_stop():
                return
            queue = queue_into(collect, ladder)
            host.applier.execute(connector, ticket, ladder, report, queue=queue)
        host.write_batch(connector, batch, now, report)
        for ticket in tickets:
            if host.should_stop():
                return
            fresh = host.enrich(name, host.store.mirrored(name, ticket.id) or ticket, now)
            host.handle(connector, fresh, now, report, collect)
        host.write_batch(connector, batch, now, report)
        for ticket in tickets:
            self.reschedule(name, ticket.id, now)

    def ladder(self, connector: Connector, now: datetime) -> Callable[[Ticket], TicketPlan | None]:
        """Plan the due ladder steps of a ticket's active tier entry at `now`."""
        name, store, policy = connector.name, self.worker.store, self.worker.policy

        def plan(ticket: Ticket) -> TicketPlan | None:
            facts = gather_facts(store, policy, name, ticket, now, with_history=False)
            return plan_ladder(policy, connector.profile, name, ticket, facts, now)

        return plan
