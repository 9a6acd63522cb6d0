"""The applier: the only code that writes a plan to a helpdesk and records it.

Intent, write, record: every ledger key of a plan is written down before anything is sent,
then the ticket update (tags, group, priority, fields, the note with its marker), the customer
message, each follow-up task, each marked done as it lands. A conflict re-reads the ticket and
plans again (never a blind retry). The polled cycle, bulk writes, recovery and the ladder all
come through here.

Crash points are named (`CRASH_POINTS`): a test hook called at each lets the suite stop the
process exactly there and show that a restart finishes the work once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import structlog

from esc_sync.apply.messages import Messages, withheld
from esc_sync.apply.recorder import Recorder
from esc_sync.apply.results import CycleReport
from esc_sync.apply.retry import hold_for_retry
from esc_sync.connectors.base import Connector
from esc_sync.errors import (
    ConflictError,
    HelpdeskUnusable,
    RateLimited,
    SkippableError,
    TransientError,
)
from esc_sync.model import Ticket, TicketUpdate, TierMove
from esc_sync.notify import Notifier
from esc_sync.plan.ticket import TicketPlan
from esc_sync.plan.writes import calls_for, has_reply, task_detail
from esc_sync.state.facts import with_requester_history
from esc_sync.state.protocol import LeaseCheck, Ledger, Mirror, TierEntries

log = structlog.get_logger("esc_sync.worker")

MAX_CONFLICT_RETRIES = 3
# Tickets deferred in a row (transient failures, no write landing between) before the cycle
# ends with the helpdesk called unusable.
FAILURES_IN_A_ROW = 10

# Where a write can be cut short: after the intents are recorded, after the ticket update
# landed (the note travels with it), after the customer message, after each task, after a
# bulk job was accepted; and
# after a message was sent to a channel, before it is recorded.
CRASH_POINTS = (
    "after-intent",
    "after-update",
    "after-reply",
    "after-task",
    "after-bulk-submit",
    "after-send",
)

Planner = Callable[[Ticket], TicketPlan | None]


class ApplierStore(Ledger, Mirror, TierEntries, LeaseCheck, Protocol):
    """What the applier reads and writes of the state store."""


class Applier:
    """Performs plans on a helpdesk: single writes here, bulk jobs in `apply.bulk`."""

    def __init__(
        self,
        store: ApplierStore,
        recorder: Recorder,
        clock: Callable[[], datetime],
        crash_point: Callable[[str], None] = lambda point: None,
        failure_limit: int = FAILURES_IN_A_ROW,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.clock = clock
        self.crash_point = crash_point
        # (connector, ticket) whose writes are still settling (a bulk job, a deferred ticket):
        # left alone until recovery
        self.postponed: set[tuple[str, int]] = set()
        self.failure_limit = failure_limit
        self.failures_in_a_row = 0
        self.messages = Messages(
            store,
            recorder,
            notifier or Notifier(attempts=1),  # retries go through the ledger
            lambda: self.clock(),
            self.crash_point_at,
        )

    def crash_point_at(self, point: str) -> None:
        """The test hook, looked up each time (a test may swap it)."""
        self.crash_point(point)

    # -- the one loop: plan, record, write, and plan again on a conflict ------------------------

    def execute(
        self,
        connector: Connector,
        ticket: Ticket,
        make_plan: Planner,
        report: CycleReport,
        *,
        queue: Callable[[TicketPlan], None] | None = None,
    ) -> None:
        """Plan the ticket and carry the plan out (or record it in a dry run, or hand it to
        `queue` for a bulk job), re-reading and planning again on a concurrent change."""
        name = connector.name
        if (name, ticket.id) in self.postponed:
            log.info("ticket has writes still settling; left for later", ticket=ticket.id)
            return
        try:
            for attempt in range(MAX_CONFLICT_RETRIES + 1):
                tplan = make_plan(ticket)
                if tplan is None:
                    return
                self.adopt(name, tplan)
                if tplan.is_empty():
                    self.recorder.outcome(name, report, tplan, "no-change", [], [], self.clock())
                    return
                if report.dry_run:
                    held = calls_for(tplan.plan) + withheld(tplan.notifications)
                    for n in tplan.notifications:
                        report.notifications[(n.channel, n.event, "planned")] += 1
                    self.recorder.outcome(name, report, tplan, "dry-run", [], held, self.clock())
                    return
                if queue is not None and not tplan.plan.is_empty():
                    queue(tplan)
                    return
                try:
                    made = self.write(connector, tplan, report)
                except ConflictError:
                    report.conflicts += 1
                    log.info(
                        "ticket changed meanwhile; re-reading",
                        connector=name,
                        ticket=ticket.id,
                        attempt=attempt + 1,
                    )
                    ticket = self.reread(connector, ticket.id)
                    continue
                self.finish(name, report, tplan, made)
                return
            raise SkippableError(
                f"ticket {ticket.id} kept changing during {MAX_CONFLICT_RETRIES} re-reads",
                ticket_id=ticket.id,
            )
        except SkippableError as exc:
            self.recorder.skipped(name, report, ticket.id, str(exc), self.clock())
        except TransientError as exc:
            if isinstance(exc, RateLimited):
                raise  # the account's budget is spent: no other ticket would fare better
            self.defer(name, report, ticket.id, self.store.episode(name, ticket.id), str(exc))

    def defer(
        self, connector: str, report: CycleReport, ticket_id: int, episode: int, reason: str
    ) -> None:
        """One ticket's write failed for now (after the retries that are safe): its work waits
        in the ledger for the next cycle's recovery, with a growing pause, and the cycle goes
        on. Many failures in a row mean the helpdesk itself is failing: the cycle ends."""
        self.failures_in_a_row += 1
        now = self.clock()
        retry_after = hold_for_retry(self.store, connector, ticket_id, episode, reason, now)
        self.postponed.add((connector, ticket_id))
        self.recorder.deferred(connector, report, ticket_id, reason, retry_after, now)
        if self.failures_in_a_row >= self.failure_limit:
            raise HelpdeskUnusable(
                f"{self.failures_in_a_row} tickets in a row failed; the last: {reason}"
            )

    def adopt(self, connector: str, tplan: TicketPlan) -> None:
        """Record what the plan found already done: markers on the ticket, moot reminders."""
        now = self.clock()
        for key, detail in tplan.adopt:
            self.store.record_done(connector, tplan.ticket.id, tplan.episode, key, now, detail)
            if detail.get("adopted"):
                log.info(
                    "adopted a marker found on the ticket",
                    connector=connector,
                    ticket=tplan.ticket.id,
                    key=key,
                )
        if tplan.adopt_entry is not None:
            self._enter(connector, tplan, tplan.adopt_entry)
        if tplan.retarget is not None and tplan.plan.update is None:
            self._retarget(connector, tplan, tplan.retarget)

    def landed(self, connector: str, tplan: TicketPlan) -> None:
        """The plan's ticket update landed: its intents are recorded done in one transaction
        with the tier entry it makes or the deadlines it counts again. Recovery reads a move
        only from intents still open, so a crash before the reply, the tasks or the messages
        must not find the rules done without their entry (no deadlines, no ladder)."""
        now = self.clock()
        with self.store.page_writes(connector):
            for key, _ in tplan.intents:
                self.store.record_done(connector, tplan.ticket.id, tplan.episode, key, now)
            if tplan.enter is not None:
                self._enter(connector, tplan, tplan.enter)
            if tplan.retarget is not None:
                self._retarget(connector, tplan, tplan.retarget)

    def finish(
        self, connector: str, report: CycleReport, tplan: TicketPlan, made: list[str]
    ) -> None:
        """After a plan's writes landed (its tier entry with its update): its messages, the
        record."""
        tid, episode, notes = tplan.ticket.id, tplan.episode, tplan.notifications
        made = made + self.messages.send_all(connector, tid, episode, notes, report)
        self.failures_in_a_row = 0
        self.recorder.outcome(connector, report, tplan, "applied", made, [], self.clock())

    def _enter(self, connector: str, tplan: TicketPlan, move: TierMove) -> None:
        """Record that the ticket is in a tier now, with that tier's deadlines."""
        self.store.enter_tier(
            connector,
            tplan.ticket.id,
            tplan.episode,
            move.tier,
            move.at,
            move.respond_by,
            move.resolve_by,
        )

    def _retarget(self, connector: str, tplan: TicketPlan, move: TierMove) -> None:
        """Save the active entry's deadlines counted again (its response and pause stay)."""
        retarget_entry(self.store, connector, tplan.ticket.id, move)

    def reread(self, connector: Connector, ticket_id: int) -> Ticket:
        """Read a ticket again with its comments (a write whose answer was lost shows its
        marker there), into the mirror."""
        fresh = connector.load_comments(connector.fetch_ticket(ticket_id))
        ticket = with_requester_history(self.store, connector.name, fresh, self.clock())
        self.store.observe(connector.name, ticket)
        return ticket

    # -- intent, write, record ----------------------------------------------------------------

    def announce(self, connector: str, tplan: TicketPlan, now: datetime) -> None:
        """Write every intent of a plan to the ledger before anything is sent.

        What follows the note (reply, tasks) is tied to its first marker: after a crash or a
        lost answer it is carried out only if that marker is on the ticket.
        """
        plan, tid, episode, store = tplan.plan, tplan.ticket.id, tplan.episode, self.store
        update = plan.update
        reply = update.customer_message if update else None
        writes_note = update is not None and update.note is not None and bool(plan.markers)
        after = {"after_marker": plan.markers[0]} if writes_note else {}
        for key, detail in tplan.intents:
            store.record_intent(connector, tid, episode, key, detail, now)
        if reply:
            store.record_intent(connector, tid, episode, "reply", {"message": reply, **after}, now)
        for task in plan.tasks:
            detail = {**task_detail(task), **after}
            store.record_intent(connector, tid, episode, f"task:{task.external_id}", detail, now)
        self.messages.announce(connector, tid, episode, tplan.notifications, after, now)

    def write(self, connector: Connector, tplan: TicketPlan, report: CycleReport) -> list[str]:
        """Announce, write, record: one update for the ticket, the reply, then each task."""
        name, plan, ticket, store = connector.name, tplan.plan, tplan.ticket, self.store
        tid, episode = ticket.id, tplan.episode
        update = plan.update
        reply = update.customer_message if update else None
        writes_note = update is not None and update.note is not None and bool(plan.markers)
        self.announce(name, tplan, self.clock())
        self.crash_point("after-intent")
        made: list[str] = []
        version = ticket.version
        if update is not None and not update.is_empty():
            main = dataclasses.replace(update, customer_message=None)
            keys = [key for key, _ in tplan.intents]
            try:
                version = connector.apply_update(main)
            except SkippableError:
                store.forget_intents(name, tid, episode)
                raise
            except ConflictError:
                # it may still have landed with its answer lost: the marker-bearing intents go
                # (the re-read plans again); the rest waits for recovery to check the marker
                store.forget_keys(name, tid, episode, keys)
                if not writes_note:
                    store.forget_intents(name, tid, episode)
                raise
            self.crash_point("after-update")
            made.append(f"PUT ticket {tid}")
            report.updates += 1
            self.landed(name, tplan)
        if reply:
            version = self.send_reply(connector, tid, version, reply) or version
            self.crash_point("after-reply")
            store.record_done(name, tid, episode, "reply", self.clock())
            made.append(f"PUT ticket {tid} (public reply)")
        if update is not None:
            self.remember_write(connector, ticket, update, version)
        for task in plan.tasks:
            task_id = connector.create_task(task)
            self.crash_point("after-task")
            key = f"task:{task.external_id}"
            store.record_done(name, tid, episode, key, self.clock(), {"task_id": task_id})
            report.tasks_created += 1
            made.append(f"POST task {task.external_id} -> {task_id}")
        return made

    def send_reply(
        self, connector: Connector, ticket_id: int, version: str | None, message: str
    ) -> str | None:
        """Post the customer message once; after a conflict, look before posting again."""
        try:
            return connector.apply_update(
                TicketUpdate(ticket_id=ticket_id, version=version, customer_message=message)
            )
        except ConflictError:
            fresh = connector.load_comments(connector.fetch_ticket(ticket_id))
            if has_reply(fresh, message):  # it landed; only its answer was lost
                return fresh.version
            return connector.apply_update(
                TicketUpdate(ticket_id=ticket_id, version=fresh.version, customer_message=message)
            )

    def remember_write(
        self, connector: Connector, ticket: Ticket, update: TicketUpdate, version: str | None
    ) -> None:
        """Keep the mirror in step with what was just written (the clock writes from it)."""
        group = update.group if update.group is not None else ticket.group
        self.store.observe(
            connector.name,
            dataclasses.replace(
                ticket,
                version=version or ticket.version,
                tags=update.tags if update.tags is not None else ticket.tags,
                group=group,
                tier=connector.profile.tier_of_group(group) if update.group else ticket.tier,
                priority=update.priority or ticket.priority,
                status=update.status or ticket.status,
            ),
        )


def retarget_entry(store: TierEntries, connector: str, ticket_id: int, move: TierMove) -> None:
    """Give the active tier entry new deadlines (targets counted again), keeping its response
    and any pause; nothing when the ticket has left that tier since."""
    entry = store.active_entry(connector, ticket_id)
    if entry is None or entry.tier != move.tier:
        return
    entry.respond_by, entry.resolve_by = move.respond_by, move.resolve_by
    store.update_entry(entry)
