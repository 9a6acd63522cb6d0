"""Bulk writes for bursts: many tickets' updates and tasks per request, as asynchronous jobs.

The guarantees are those of single writes. Every write is announced in the ledger before its
job is submitted, and recorded when the job reports the item's outcome:
- an item that failed did not land: its intents are dropped and the ticket is read again and
  handled alone (a conflict decides afresh, any other failure gets one single-write attempt);
- a job that failed as a whole or vanished says nothing about its items: they are settled as
  after a crash, by reading each ticket's markers and tasks (`recovery`);
- a job still running when the wait ends, or a submission whose answer was lost, keeps its
  intents open with the job id and a settle time; recovery settles them once the job is over,
  and until then the worker leaves those tickets alone.

Order per ticket is the same as in single writes: the update with the note first; the reply and
the tasks only once the note's update is known to have landed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog

from esc_sync.apply.applier import Applier, Planner
from esc_sync.apply.recovery import settle_ticket
from esc_sync.apply.results import CycleReport
from esc_sync.clock import wait_alive
from esc_sync.connectors.base import BulkWriter, Connector, JobItem, JobStatus
from esc_sync.errors import HelpdeskError, RateLimited, TransientError
from esc_sync.model import Intent, Plan, TaskCreate, Ticket, TicketUpdate
from esc_sync.plan.ticket import TicketPlan
from esc_sync.plan.writes import iso
from esc_sync.state.protocol import DeadLetters

log = structlog.get_logger("esc_sync.bulk")

# Zendesk runs about 30 jobs per account at once; leave room for other integrations.
MAX_JOBS_AT_ONCE = 25
# How long intents of a job whose outcome is unknown wait before recovery reads the tickets.
SETTLE_DELAY = timedelta(minutes=10)

# An item's outcome: the job's report, or `pending` (the job may still run: settle later) or
# `unknown` (the job is over but said nothing usable: read the ticket now).
Outcome = JobItem | Literal["pending", "unknown"]


@dataclass(frozen=True, slots=True)
class BulkSettings:
    """When to use bulk jobs and how long to follow them."""

    threshold: int = 20  # at least this many plans in a page go through bulk jobs
    wait: float = 300.0  # seconds to follow a job before leaving it to recovery
    # First pause after submission, then doubling up to `poll_max`: a small job (Zendesk: two
    # items in about 2 s, helpdesk-apis.md A5.4) is seen done soon instead of after a fixed
    # second, a big one costs a few polls more (general budget, not the scarce export one).
    poll_every: float = 0.25
    poll_max: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    # While it waits between polls, the worker renews its lease at least this often (the app
    # sets a third of the lease TTL): a long pause is no reason to hand the connector over.
    keep_alive_every: float = math.inf


@dataclass(slots=True)
class Deferred:
    """A live plan waiting for its batch's bulk jobs, with the planner that made it (a ticket
    written alone after all is planned again with it)."""

    tplan: TicketPlan
    planner: Planner
    made: list[str] = field(default_factory=list)
    settled: bool = True  # False once any of its writes is left to recovery

    @property
    def ticket(self) -> Ticket:
        """The ticket the plan is for."""
        return self.tplan.ticket

    @property
    def episode(self) -> int:
        """The ticket's episode."""
        return self.tplan.episode

    @property
    def plan(self) -> Plan:
        """The writes."""
        return self.tplan.plan

    @property
    def intents(self) -> list[Intent]:
        """The ledger keys the update settles."""
        return self.tplan.intents


def queue_into(
    batch: dict[int, Deferred] | None, planner: Planner
) -> Callable[[TicketPlan], None] | None:
    """A queue for `Applier.execute` that collects live plans in a batch by ticket (a later
    plan for the same ticket replaces the earlier one); None writes them at once."""
    if batch is None:
        return None
    into = batch

    def queue(tplan: TicketPlan) -> None:
        into[tplan.ticket.id] = Deferred(tplan, planner)

    return queue


Retry = tuple[Ticket, Planner]  # a ticket to plan again and write alone, and its planner


class BulkApplier:
    """Writes a batch of deferred plans through bulk jobs, with the applier's ledger steps."""

    def __init__(
        self,
        applier: Applier,
        dead: DeadLetters,
        connector: Connector,
        writer: BulkWriter,
        report: CycleReport,
        settings: BulkSettings,
    ) -> None:
        self.applier = applier
        self.dead = dead
        self.connector = connector
        self.writer = writer
        self.report = report
        self.now = applier.clock()
        self.settings = settings
        self.store = applier.store
        self.name = connector.name

    def run(self, items: list[Deferred]) -> list[Retry]:
        """Write every item; return the tickets to plan again and write one by one."""
        # every intent of the batch in one transaction, committed before any job is submitted
        with self.store.page_writes(self.name):
            for d in items:
                self.applier.announce(self.name, d.tplan, self.now)
        self.applier.crash_point("after-intent")
        retry: list[Retry] = []
        landed = self._updates(items, retry)
        self._replies(landed, retry)
        # by ticket id: a batch holds each ticket once (comparing Deferreds compares tickets)
        landed_ids = {d.ticket.id for d in landed}
        no_update = {d.ticket.id for d in items if _update_of(d) is None}
        with_tasks_now = landed_ids | no_update
        self._tasks([d for d in items if d.ticket.id in with_tasks_now], retry)
        # not in one page transaction: `finish` sends each plan's messages, and a message's
        # `sending` mark must be durable before it goes out (at most one repeat after a crash)
        for d in items:
            if d.ticket.id in landed_ids or (d.ticket.id in no_update and d.settled):
                self.applier.finish(self.name, self.report, d.tplan, d.made)
            if not d.settled:
                self.applier.postponed.add((self.name, d.ticket.id))
        return retry

    # -- the three phases ---------------------------------------------------------------------

    def _updates(self, items: list[Deferred], retry: list[Retry]) -> list[Deferred]:
        """The main update of each plan; returns the items whose update landed."""
        with_update = [d for d in items if _update_of(d) is not None]
        by_id = {d.ticket.id: d for d in with_update}
        outcomes = self._run(
            "updates",
            [(d.ticket.id, _update_of(d)) for d in with_update],
            lambda key: (by_id[int(key)].ticket.id, by_id[int(key)].episode),
        )
        landed: list[Deferred] = []
        failed: list[Deferred] = []
        left: list[tuple[Deferred, Literal["pending", "unknown"]]] = []
        with self.store.page_writes(self.name):  # the outcomes: one transaction, state only
            for d in with_update:
                outcome = outcomes[d.ticket.id]
                if isinstance(outcome, JobItem) and outcome.ok:
                    self.applier.landed(self.name, d.tplan)  # with its tier entry
                    update = d.plan.update
                    assert update is not None
                    self.applier.remember_write(self.connector, d.ticket, update, None)
                    self.report.updates += 1
                    d.made.append(f"PUT ticket {d.ticket.id} (bulk)")
                    landed.append(d)
                elif isinstance(outcome, JobItem):
                    # a failed item did not land: forget it, read the ticket, handle it alone
                    self.store.forget_intents(self.name, d.ticket.id, d.episode)
                    if outcome.conflict:
                        self.report.conflicts += 1
                    log.info(
                        "bulk item failed; the ticket is handled alone",
                        connector=self.name,
                        ticket=d.ticket.id,
                        error=outcome.error,
                        conflict=outcome.conflict,
                    )
                    failed.append(d)
                else:
                    left.append((d, outcome))
        # reads and writes of the helpdesk come after the transaction (never inside one)
        for d in failed:
            try:
                retry.append((self.applier.reread(self.connector, d.ticket.id), d.planner))
            except TransientError as exc:
                self._defer(d, exc)
        for d, outcome in left:
            self._leave(d, outcome, retry)
        return landed

    def _replies(self, landed: list[Deferred], retry: list[Retry]) -> None:
        """The customer messages of the plans whose update landed (no version: a reply does
        not overwrite anything, and the update just changed the ticket's stamp)."""
        with_reply = [d for d in landed if d.plan.update and d.plan.update.customer_message]
        by_id = {d.ticket.id: d for d in with_reply}
        outcomes = self._run(
            "updates",
            [
                (
                    d.ticket.id,
                    TicketUpdate(
                        ticket_id=d.ticket.id,
                        version=None,
                        customer_message=d.plan.update.customer_message if d.plan.update else None,
                    ),
                )
                for d in with_reply
            ],
            lambda key: (by_id[int(key)].ticket.id, by_id[int(key)].episode),
            slot_of=lambda key: "reply",
        )
        alone: list[Deferred] = []
        left: list[tuple[Deferred, Literal["pending", "unknown"]]] = []
        with self.store.page_writes(self.name):  # the outcomes: one transaction, state only
            for d in with_reply:
                outcome = outcomes[d.ticket.id]
                if isinstance(outcome, JobItem) and not outcome.ok:
                    alone.append(d)  # sent alone below, outside the transaction
                elif not isinstance(outcome, JobItem):
                    left.append((d, outcome))
                else:
                    self._replied(d)
        if alone:
            self.store.check_lease(self.name)
        for d in alone:
            message = d.plan.update.customer_message if d.plan.update else None
            assert message is not None
            try:
                self.applier.send_reply(self.connector, d.ticket.id, None, message)
            except TransientError as exc:
                self._defer(d, exc)  # the reply's intent stays open for recovery
                continue
            self._replied(d)
        for d, outcome in left:
            self._leave(d, outcome, retry)

    def _replied(self, d: Deferred) -> None:
        """Record a plan's customer message as sent."""
        self.store.record_done(self.name, d.ticket.id, d.episode, "reply", self._clock())
        d.made.append(f"PUT ticket {d.ticket.id} (public reply, bulk)")

    def _tasks(self, items: list[Deferred], retry: list[Retry]) -> None:
        """The follow-up tasks of the plans whose update landed or that have no update."""
        owner: dict[str, Deferred] = {}
        tasks: list[tuple[str, TaskCreate]] = []
        for d in items:
            for task in d.plan.tasks:
                owner[task.external_id] = d
                tasks.append((task.external_id, task))

        def ticket_of(key: int | str) -> tuple[int, int]:
            return owner[str(key)].ticket.id, owner[str(key)].episode

        outcomes = self._run("tasks", tasks, ticket_of, slot_of=lambda key: f"task:{key}")
        alone: list[tuple[str, TaskCreate]] = []
        left: dict[int, tuple[Deferred, Literal["pending", "unknown"]]] = {}
        with self.store.page_writes(self.name):  # the outcomes: one transaction, state only
            for external_id, task in tasks:
                d = owner[external_id]
                outcome = outcomes[external_id]
                if isinstance(outcome, JobItem) and outcome.ok and outcome.id is not None:
                    self._task_done(d, external_id, outcome.id)
                elif isinstance(outcome, JobItem):
                    alone.append((external_id, task))  # created alone below
                elif d.ticket.id not in left or outcome == "pending":
                    left[d.ticket.id] = (d, outcome)  # once a ticket; a running job wins
        if alone:
            self.store.check_lease(self.name)
        for external_id, task in alone:
            # failed: one single attempt, looking first in case it exists after all
            d = owner[external_id]
            try:
                found = self.connector.find_task(external_id)
                task_id = found if found is not None else self.connector.create_task(task)
            except TransientError as exc:
                self._defer(d, exc)  # the task's intent stays open for recovery
                continue
            self._task_done(d, external_id, task_id)
        for d, outcome in left.values():
            self._leave(d, outcome, retry)

    def _task_done(self, d: Deferred, external_id: str, task_id: int) -> None:
        """Record a plan's follow-up task as created."""
        self.store.record_done(
            self.name,
            d.ticket.id,
            d.episode,
            f"task:{external_id}",
            self._clock(),
            {"task_id": task_id},
        )
        self.report.tasks_created += 1
        d.made.append(f"POST task {external_id} -> {task_id} (bulk)")

    # -- jobs -----------------------------------------------------------------------------

    def _run(
        self,
        kind: Literal["updates", "tasks"],
        entries: Sequence[tuple[int | str, Any]],
        ticket_of: Callable[[int | str], tuple[int, int]],
        slot_of: Callable[[int | str], str] | None = None,
    ) -> dict[int | str, Outcome]:
        """Submit entries in jobs of `bulk_limit`, a wave of jobs at a time, and follow them.

        `slot_of` names the intent an entry's item settles when that intent is the item's
        alone (a reply, a task): its place in the job is recorded there for recovery."""
        outcomes: dict[int | str, Outcome] = {}
        limit = max(1, self.writer.bulk_limit)
        chunks = [list(entries[i : i + limit]) for i in range(0, len(entries), limit)]
        for start in range(0, len(chunks), MAX_JOBS_AT_ONCE):
            jobs: dict[str, list[int | str]] = {}
            for chunk in chunks[start : start + MAX_JOBS_AT_ONCE]:
                keys = [key for key, _ in chunk]
                # a worker paused past its lease (SIGSTOP, a stall) submits nothing more: the
                # new holder may already be settling these tickets
                self.store.check_lease(self.name)
                try:
                    if kind == "updates":
                        job_id = self.writer.submit_updates([payload for _, payload in chunk])
                    else:
                        job_id = self.writer.submit_tasks([payload for _, payload in chunk])
                except RateLimited:
                    raise  # not accepted; the cycle stops and the intents are settled later
                except TransientError as exc:
                    # the job may exist: its outcome is unknown until it is over
                    log.warning("bulk submission answer lost", kind=kind, error=str(exc))
                    self._mark({ticket_of(k) for k in keys}, None)
                    outcomes.update(dict.fromkeys(keys, "pending"))
                    continue
                except HelpdeskError as exc:
                    # refused as a whole (nothing was written): each item is tried alone
                    log.warning("bulk submission refused", kind=kind, error=str(exc))
                    outcomes.update({k: JobItem(key=k, ok=False, error=str(exc)) for k in keys})
                    continue
                self.applier.crash_point("after-bulk-submit")
                slots = (
                    {(ticket_of(k)[0], slot_of(k)): i for i, k in enumerate(keys)}
                    if slot_of is not None
                    else {}
                )
                self._mark({ticket_of(k) for k in keys}, job_id, slots)
                jobs[job_id] = keys
            for job_id, status in self._follow(list(jobs)).items():
                for key in jobs[job_id]:
                    outcomes[key] = _outcome(status, key)
        return outcomes

    def _mark(
        self,
        tickets: set[tuple[int, int]],
        job_id: str | None,
        slots: dict[tuple[int, str], int] | None = None,
    ) -> None:
        """Write the job id and a settle time into the tickets' open intents, so recovery
        leaves them alone while the job may still run. An intent settled by one item alone
        (`slots`: by ticket id and intent key) also gets the item's place in the job, by which
        a restarted worker, which never saw the submission, finds the item's outcome."""
        settle = iso(self.now + SETTLE_DELAY)
        slots = slots or {}
        with self.store.page_writes(self.name):  # committed before the job is followed
            for ticket_id, episode in tickets:
                for key, entry in self.store.ledger(self.name, ticket_id, episode).items():
                    if entry.state != "intent":
                        continue
                    jobs = [j for j in entry.detail.get("jobs", []) if j != job_id]
                    detail = {**entry.detail, "jobs": [*jobs, job_id], "settle_after": settle}
                    slot = slots.get((ticket_id, key))
                    if job_id is not None and slot is not None:
                        detail["slots"] = {**entry.detail.get("slots", {}), job_id: slot}
                    self.store.record_intent(
                        self.name, ticket_id, episode, key, detail, self._clock()
                    )

    def _follow(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """Poll jobs until each is over or the wait ends (those are reported `running`)."""
        statuses: dict[str, JobStatus] = {}
        waiting = list(job_ids)
        deadline = time.monotonic() + self.settings.wait
        pause = self.settings.poll_every
        keep_alive = functools.partial(self.store.keep_alive, self.name)
        while waiting:
            wait_alive(self.settings.sleep, pause, self.settings.keep_alive_every, keep_alive)
            self.store.check_lease(self.name)  # following a long job must not lose the lease
            answer = self.writer.poll_jobs(waiting)
            for job_id in waiting:
                status = answer.get(job_id) or JobStatus(id=job_id, state="vanished")
                if status.state != "running":
                    statuses[job_id] = status
            waiting = [j for j in waiting if j not in statuses]
            if waiting and time.monotonic() >= deadline:
                log.warning("bulk jobs still running; left to recovery", jobs=waiting)
                for job_id in waiting:
                    statuses[job_id] = JobStatus(id=job_id, state="running")
                break
            pause = min(pause * 2, self.settings.poll_max)
        return statuses

    def _leave(
        self, d: Deferred, outcome: Literal["pending", "unknown"], retry: list[Retry]
    ) -> None:
        """An item whose outcome is unknown: settle it now by reading, or leave it."""
        d.settled = False
        if outcome == "unknown":
            args = (self.applier, self.dead, self.connector, d.ticket.id, d.episode, self.report)
            landed = settle_ticket(*args)
            if landed is not None:
                retry.append((landed, d.planner))
            d.settled = True

    def _defer(self, d: Deferred, exc: TransientError) -> None:
        """One item's single-write fallback failed for now: its intents wait for recovery."""
        if isinstance(exc, RateLimited):
            raise exc
        self.applier.defer(self.name, self.report, d.ticket.id, d.episode, str(exc))
        d.settled = False

    def _clock(self) -> datetime:
        return self.applier.clock()


def _update_of(d: Deferred) -> TicketUpdate | None:
    """The plan's main update (without the reply), or None when it writes nothing."""
    update = d.plan.update
    if update is None or update.is_empty():
        return None
    main = dataclasses.replace(update, customer_message=None)
    return None if main.is_empty() else main


def _outcome(status: JobStatus, key: int | str) -> Outcome:
    """One item's outcome from its job's status."""
    if status.state == "running":
        return "pending"
    if status.state == "completed":
        item = status.items.get(key)
        return item if item is not None else "unknown"
    return "unknown"  # failed or vanished: nothing can be assumed
