"""One cycle: read pages -> mirror -> plan (`esc_sync.plan`) -> apply (`esc_sync.apply`) ->
bookmark. Orchestration only: which tickets, in which batches, and when the bookmark moves.

The bookmark moves only after every ticket of a page is planned and applied. Before reading,
`recover` settles writes a crash left open, by reading the ticket before anything is written
again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from esc_sync.apply.applier import Applier
from esc_sync.apply.bulk import BulkApplier, BulkSettings, Deferred, queue_into
from esc_sync.apply.recorder import AuditLog, Recorder
from esc_sync.apply.recovery import recover
from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import (
    BulkWriter,
    CommentPrefetcher,
    Connector,
    Page,
    derive_comment_fields,
)
from esc_sync.errors import RateLimited
from esc_sync.model import Ticket
from esc_sync.plan.ticket import TicketPlan, needs_comments, plan_ticket
from esc_sync.policy import Policy
from esc_sync.state.facts import (
    gather_facts,
    requester_history,
    vouch_comments,
    with_mirrored_comments,
    with_reopens,
    with_requester_history,
)
from esc_sync.state.protocol import StateStore
from esc_sync.worker.clockwork import Clockwork
from esc_sync.worker.surges import Surges

log = structlog.get_logger("esc_sync.worker")


# A batch of plans for bulk writes is written once it holds this many plans or spans this
# many pages (so the bookmark keeps moving on a long first sync).
FLUSH_AT = 500
FLUSH_PAGES = 10


@dataclass(slots=True)
class _Batch:
    """Pages read since the last write: their plans, tickets, touched surge rules, bookmark."""

    deferred: dict[int, Deferred] = field(default_factory=dict)
    handled: set[int] = field(default_factory=set)
    touched: set[str] = field(default_factory=set)
    bookmark: str | None = None
    pages: int = 0

    def reset(self) -> None:
        """Start the next batch."""
        self.deferred.clear()
        self.handled = set()
        self.touched = set()
        self.bookmark = None
        self.pages = 0


class TriggerTag(AuditLog):
    """An audit log that marks every record with what triggered it (`"webhook"`)."""

    def __init__(self, audit: AuditLog, trigger: str) -> None:
        super().__init__(None)
        self.path = audit.path
        self.inner = audit
        self.trigger = trigger

    def write(self, record: dict[str, Any]) -> None:
        """Write the record with its trigger."""
        self.inner.write({**record, "trigger": self.trigger})


class Worker:
    """Runs cycles for connectors with one policy, state store and audit log."""

    def __init__(
        self,
        *,
        policy: Policy,
        store: StateStore,
        audit: AuditLog,
        clock: Callable[[], datetime],
        cycle_deadline: timedelta = timedelta(minutes=10),
        should_stop: Callable[[], bool] = lambda: False,
        bulk: BulkSettings | None = None,
        crash_point: Callable[[str], None] = lambda point: None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.recorder = Recorder(audit, store)
        self.clock = clock
        self.cycle_deadline = cycle_deadline
        self.should_stop = should_stop
        self.bulk = bulk or BulkSettings()
        # the worker's clock may be swapped (tests fast-forward it): the applier asks it each time
        self.applier = Applier(store, self.recorder, lambda: self.clock(), crash_point)
        self.clockwork = Clockwork(self)
        self.surges = Surges(self)

    @property
    def audit(self) -> AuditLog:
        """The audit log the recorder writes (an observer may wrap it)."""
        return self.recorder.audit

    @audit.setter
    def audit(self, log: AuditLog) -> None:
        self.recorder.audit = log

    # -- the cycle ----------------------------------------------------------------------------

    def run_cycle(self, connector: Connector, *, dry_run: bool = False) -> CycleReport:
        """Read every changed ticket since the bookmark and act on it (or record, when dry)."""
        report = CycleReport(connector=connector.name, dry_run=dry_run)
        before = Counter(connector.calls)
        if dry_run:
            with self.store.dry_run():
                self._read_and_act(connector, report)
        else:
            self.recover(connector, report)
            self._read_and_act(connector, report)
        report.calls = Counter(connector.calls)
        report.calls.subtract(before)
        report.calls = +report.calls
        return report

    def _read_and_act(self, connector: Connector, report: CycleReport) -> None:
        try:
            self._read_changes(connector, report)
        except RateLimited as exc:
            # the account's budget is spent for longer than we wait: stop, keep the bookmark
            report.stopped_early = True
            report.stop_reason = f"rate limited past the client's patience ({exc})"
        if report.stopped_early:
            self.recorder.stopped(connector.name, report, self.clock())
        else:
            self.clockwork.sweep(connector, report)

    def sweep(self, connector: Connector, *, dry_run: bool = False) -> CycleReport:
        """Act on the tickets whose due instant has come, from the mirror (no reads)."""
        report = CycleReport(connector=connector.name, dry_run=dry_run)
        before = Counter(connector.calls)
        if dry_run:
            with self.store.dry_run():
                self.clockwork.sweep(connector, report)
        else:
            self.clockwork.sweep(connector, report)
        report.calls = +(Counter(connector.calls) - before)
        return report

    def run_pokes(
        self, connector: Connector, ticket_ids: Sequence[int], *, dry_run: bool = False
    ) -> CycleReport:
        """Re-read the tickets webhooks named and act on them as on a polled page.

        A poke is never a source of truth: the tickets are read again through the connector
        (in as few calls as it allows) and go through the same plan and apply path, ledger and
        markers as a polled change, audited with `trigger = "webhook"`. The bookmark does not
        move: the poller stays the reconciler. Unknown or deleted tickets are left out.
        """
        report = CycleReport(connector=connector.name, dry_run=dry_run)
        before = Counter(connector.calls)
        audit = self.recorder.audit
        self.recorder.audit = TriggerTag(audit, "webhook")
        try:
            if dry_run:
                with self.store.dry_run():
                    self._act_on_pokes(connector, ticket_ids, report)
            else:
                self._act_on_pokes(connector, ticket_ids, report)
        finally:
            self.recorder.audit = audit
        report.calls = +(Counter(connector.calls) - before)
        return report

    def _act_on_pokes(
        self, connector: Connector, ticket_ids: Sequence[int], report: CycleReport
    ) -> None:
        tickets = connector.fetch_tickets(list(dict.fromkeys(ticket_ids)))
        page = Page(tickets=tickets, bookmark="")
        batch = _Batch()
        if self._process_page(connector, page, report, batch, bulk=False, prefetch=False):
            self._settle(connector, batch, report)  # batch.bookmark stays None: no move
        report.pages = 0

    def _read_changes(self, connector: Connector, report: CycleReport) -> None:
        """Read the change feed page by page; with bulk writes, a batch spans several pages.

        The bookmark moves only once every plan of the pages behind it is written. A batch is
        written when it holds `FLUSH_AT` plans or `FLUSH_PAGES` pages, at the end of the feed,
        and before a stop; a
        stop in mid-page drops the batch unwritten (nothing of it was announced), so its pages
        are read again next time.
        """
        started = self.clock()
        name = connector.name
        bookmark = self.store.bookmark(name)
        start = started - connector.profile.start_window
        batch = _Batch()
        bulk = self.bulk_capable(connector, report)
        for page in connector.iter_changes(bookmark, start):
            complete = self._process_page(connector, page, report, batch, bulk)
            report.pages += 1
            if not complete:  # stopped mid-page: the pages are read again next time
                report.stopped_early = True
                report.stop_reason = f"a stop was requested while page {report.pages} was read"
                return
            batch.bookmark = page.bookmark
            batch.pages += 1
            over = self.should_stop() or self.clock() - started > self.cycle_deadline
            full = len(batch.deferred) >= FLUSH_AT or batch.pages >= FLUSH_PAGES
            if not bulk or full or page.end_of_stream or over:
                self._settle(connector, batch, report)
            if over:
                report.stopped_early = not page.end_of_stream
                if self.should_stop():
                    report.stop_reason = f"a stop was requested after {report.pages} pages"
                else:
                    report.stop_reason = (
                        f"the cycle deadline ({self.cycle_deadline}) passed after "
                        f"{report.pages} pages; the rest of the feed is read next time"
                    )
                return
        if batch.bookmark is not None:
            self._settle(connector, batch, report)

    def bulk_capable(self, connector: Connector, report: CycleReport) -> bool:
        """Whether live plans are collected for bulk jobs (a live run on a bulk writer)."""
        return not report.dry_run and isinstance(connector, BulkWriter)

    def _settle(self, connector: Connector, batch: _Batch, report: CycleReport) -> None:
        """Write the batch's plans, then reschedule, surge backfill and the bookmark."""
        now = self.clock()
        name = connector.name
        self.write_batch(connector, batch.deferred, now, report)
        with self.store.page_writes(name):  # state only: the batch's writes are done above
            for ticket_id in batch.handled:
                self.clockwork.reschedule(name, ticket_id, now)
        self.surges.backfill(connector, batch.touched, batch.handled, now, report)
        if not report.dry_run and batch.bookmark is not None:
            self.store.set_bookmark(name, batch.bookmark, self.clock())
        batch.reset()

    def _process_page(
        self,
        connector: Connector,
        page: Page,
        report: CycleReport,
        batch: _Batch,
        bulk: bool,
        prefetch: bool = True,
    ) -> bool:
        """Handle every ticket of a page; False when a stop request cut it short.

        Without `prefetch`, comments are read per ticket when a rule needs them (pokes: a
        ticket changed seconds ago is not in the ticket-event export yet)."""
        now = self.clock()
        name = connector.name
        for rec in page.skipped:
            if rec.reason == "deleted":
                continue  # a deleted ticket needs nothing from us
            self.recorder.skipped(name, report, rec.ticket_id, rec.reason, now, rec.payload)
        tickets = [t for t in page.tickets if not t.is_worker_task]
        report.tickets_read += len(tickets)
        # comment fields the mirror still vouches for (no comment since they were read)
        tickets = [
            vouch_comments(with_mirrored_comments(self.store, name, t), now) for t in tickets
        ]
        if prefetch:  # before the mirror rows are written, so each is written once
            tickets = self._prefetch_comments(connector, tickets, now)
        with self.store.page_writes(name):  # one transaction for the page's mirror rows
            for ticket in tickets:
                self.store.observe(name, ticket)
        tickets = [self.enrich(name, t, now) for t in tickets]
        batch.touched |= self.surges.record_hits(name, tickets, now)
        for ticket in tickets:
            if self.should_stop():
                return False
            ticket = self.clockwork.track(connector, ticket, now)
            self.handle(connector, ticket, now, report, batch.deferred if bulk else None)
            batch.handled.add(ticket.id)
        return True

    def write_batch(
        self, connector: Connector, batch: dict[int, Deferred], now: datetime, report: CycleReport
    ) -> None:
        """Collected live plans: in bulk jobs when there are enough of them, else one by one
        (planned again, as the ticket may have changed meanwhile). Empties the batch."""
        deferred = list(batch.values())
        batch.clear()
        if not deferred:
            return
        if not report.dry_run:
            self.store.check_lease(connector.name)  # a lost lease writes nothing more
        if isinstance(connector, BulkWriter) and len(deferred) >= self.bulk.threshold:
            bulk = BulkApplier(self.applier, self.store, connector, connector, report, self.bulk)
            retry = bulk.run(deferred)
        else:
            retry = [(d.ticket, d.planner) for d in deferred]
        for ticket, planner in retry:
            ticket = self.enrich(connector.name, ticket, now)
            self.applier.execute(connector, ticket, planner, report)

    def _prefetch_comments(
        self, connector: Connector, tickets: list[Ticket], now: datetime
    ) -> list[Ticket]:
        """Comments of the page's tickets whose rules need them, in a few requests when the
        connector can; the tickets it cannot vouch for keep the per-ticket read in `_decide`.

        Runs before the page's mirror rows are written (each row is then written once, with
        its comment fields), so a ticket's facts are those of its last sight: a ticket reopened
        since counts its old episode's fired rules here and may be left out, then read on its
        own once the planner sees the new episode; and the requester history is not added
        yet, so a rule reading it and comment text asks for the text (read in bulk anyway).
        """
        if not isinstance(connector, CommentPrefetcher):
            return tickets
        name, store, policy = connector.name, self.store, self.policy
        wanted = [
            t
            for t in tickets
            if needs_comments(
                policy, t, gather_facts(store, policy, name, t, now, with_history=False), now
            )
        ]
        if not wanted:
            return tickets
        found = connector.prefetch_comments(wanted)
        out: list[Ticket] = []
        for ticket in tickets:
            comments = found.get(ticket.id)
            if comments is not None and not ticket.comments_loaded:
                ticket = vouch_comments(derive_comment_fields(ticket, comments), now)
            out.append(ticket)
        return out

    # -- one ticket ---------------------------------------------------------------------------

    def enrich(self, name: str, ticket: Ticket, now: datetime) -> Ticket:
        """Add what the mirror knows: the requester's recent tickets, reopens it counted."""
        ticket = with_reopens(self.store, name, ticket)
        return with_requester_history(self.store, name, ticket, now)

    def planner(self, connector: Connector, now: datetime) -> Callable[[Ticket], TicketPlan]:
        """Plan a ticket as the policy says at `now`: gather its facts, read its comments
        only if a rule needs them, add the requester's history once a briefing is written."""
        name, profile, store = connector.name, connector.profile, self.store

        def plan(ticket: Ticket) -> TicketPlan:
            facts = gather_facts(store, self.policy, name, ticket, now, with_history=False)
            if needs_comments(self.policy, ticket, facts, now):
                ticket = vouch_comments(connector.load_comments(ticket), now)
                store.observe(name, ticket)  # the mirror keeps the text for the clock
                facts = gather_facts(store, self.policy, name, ticket, now, with_history=False)
            tplan = plan_ticket(self.policy, profile, name, ticket, facts, now)
            if tplan.decision is not None and tplan.decision.matches:
                facts = dataclasses.replace(facts, history=requester_history(store, name, ticket))
                tplan = plan_ticket(self.policy, profile, name, ticket, facts, now)
            return tplan

        return plan

    def handle(
        self,
        connector: Connector,
        ticket: Ticket,
        now: datetime,
        report: CycleReport,
        batch: dict[int, Deferred] | None = None,
    ) -> None:
        """Plan, then apply or record, planning again on a concurrent change; with a batch,
        a live plan is queued there for bulk jobs instead (`write_batch` writes it)."""
        planner = self.planner(connector, now)
        self.applier.execute(connector, ticket, planner, report, queue=queue_into(batch, planner))

    def recover(self, connector: Connector, report: CycleReport) -> None:
        """Settle writes a crash left open; plan again what did not land."""
        self.store.check_lease(connector.name)
        now = self.clock()
        for ticket in recover(self.applier, self.store, connector, report):
            self.handle(connector, self.enrich(connector.name, ticket, now), now, report)
