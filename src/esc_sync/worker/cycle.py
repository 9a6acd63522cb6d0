"""One cycle: read a page -> mirror -> evaluate -> plan -> apply (or record) -> bookmark.

The bookmark moves only after every ticket of a page is evaluated and applied. Live writes are
announced in the ledger before they are sent and recorded after; `recover` settles announcements
left open by a crash by reading the ticket before anything is written again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from esc_sync.connectors.base import (
    BulkWriter,
    CommentPrefetcher,
    Connector,
    Page,
    derive_comment_fields,
)
from esc_sync.errors import ConflictError, SkippableError
from esc_sync.model import (
    CLOSED_STATUSES,
    MARKER_PREFIX,
    Decision,
    Plan,
    Ticket,
    TicketUpdate,
)
from esc_sync.policy import EvalContext, Policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.audit import AuditLog, decision_record
from esc_sync.worker.bulk import BulkApplier, BulkSettings, Deferred
from esc_sync.worker.clockwork import MAX_CONFLICT_RETRIES, Clockwork
from esc_sync.worker.planner import (
    History,
    build_plan,
    calls_for,
    entry_detail,
    has_reply,
    iso,
    task_detail,
    tasks_for,
)
from esc_sync.worker.recovery import recover
from esc_sync.worker.results import CycleReport, PlannedRow
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


class Worker:
    """Runs cycles for connectors with one policy, state store and audit log."""

    def __init__(
        self,
        *,
        policy: Policy,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], datetime],
        cycle_deadline: timedelta = timedelta(minutes=10),
        should_stop: Callable[[], bool] = lambda: False,
        bulk: BulkSettings | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.audit = audit
        self.clock = clock
        self.cycle_deadline = cycle_deadline
        self.should_stop = should_stop
        self.clockwork = Clockwork(self)
        self.surges = Surges(self)
        self.bulk = bulk or BulkSettings()
        # (connector, ticket) whose bulk writes are still settling: left alone until recovery
        self.postponed: set[tuple[str, int]] = set()
        self._deferred: dict[int, Deferred] | None = None

    # -- the cycle ----------------------------------------------------------------------------

    def run_cycle(self, connector: Connector, *, dry_run: bool = False) -> CycleReport:
        """Read every changed ticket since the bookmark and act on it (or record, when dry)."""
        report = CycleReport(connector=connector.name, dry_run=dry_run)
        before = Counter(connector.calls)
        if dry_run:
            with self.store.dry_run():
                self._read_and_act(connector, report)
        else:
            recover(self, connector, report)
            self._read_and_act(connector, report)
        report.calls = Counter(connector.calls)
        report.calls.subtract(before)
        report.calls = +report.calls
        return report

    def _read_and_act(self, connector: Connector, report: CycleReport) -> None:
        self._read_changes(connector, report)
        if not report.stopped_early:
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
        bulk = not report.dry_run and isinstance(connector, BulkWriter)
        self._deferred = batch.deferred if bulk else None
        try:
            for page in connector.iter_changes(bookmark, start):
                complete = self._process_page(connector, page, report, batch)
                report.pages += 1
                if not complete:  # stopped mid-page: the pages are read again next time
                    report.stopped_early = True
                    return
                batch.bookmark = page.bookmark
                batch.pages += 1
                over = self.should_stop() or self.clock() - started > self.cycle_deadline
                full = len(batch.deferred) >= FLUSH_AT or batch.pages >= FLUSH_PAGES
                if not bulk or full or page.end_of_stream or over:
                    self._settle(connector, batch, report)
                if over:
                    report.stopped_early = not page.end_of_stream
                    return
            if batch.bookmark is not None:
                self._settle(connector, batch, report)
        finally:
            self._deferred = None

    def _settle(self, connector: Connector, batch: _Batch, report: CycleReport) -> None:
        """Write the batch's plans, then reschedule, surge backfill and the bookmark."""
        now = self.clock()
        name = connector.name
        deferred = list(batch.deferred.values())
        batch.deferred.clear()
        saved, self._deferred = self._deferred, None
        try:
            if deferred:
                self._write_deferred(connector, deferred, now, report)
            for ticket_id in batch.handled:
                self.clockwork.reschedule(name, ticket_id, now)
            self.surges.backfill(connector, batch.touched, batch.handled, now, report)
        finally:
            self._deferred = saved
        if not report.dry_run and batch.bookmark is not None:
            self.store.set_bookmark(name, batch.bookmark, self.clock())
        batch.reset()

    def _process_page(
        self, connector: Connector, page: Page, report: CycleReport, batch: _Batch
    ) -> bool:
        """Handle every ticket of a page; False when a stop request cut it short."""
        now = self.clock()
        name = connector.name
        for rec in page.skipped:
            if rec.reason == "deleted":
                continue  # a deleted ticket needs nothing from us
            report.skipped += 1
            log.warning("ticket skipped", connector=name, ticket=rec.ticket_id, reason=rec.reason)
            self.store.dead_letter(name, rec.ticket_id, rec.reason, rec.payload, now)
            self.audit.write(
                {
                    "at": iso(now),
                    "connector": name,
                    "ticket": rec.ticket_id,
                    "dry_run": report.dry_run,
                    "outcome": "skipped",
                    "error": rec.reason,
                }
            )
        tickets = [t for t in page.tickets if not t.is_worker_task]
        report.tickets_read += len(tickets)
        for ticket in tickets:
            self.store.observe(name, ticket)
        tickets = [self.enrich(name, t, now) for t in tickets]
        tickets = self._prefetch_comments(connector, tickets, now)
        batch.touched |= self.surges.record_hits(name, tickets, now)
        for ticket in tickets:
            if self.should_stop():
                return False
            ticket = self.clockwork.track(connector, ticket, now)
            self.handle(connector, ticket, now, report)
            batch.handled.add(ticket.id)
        return True

    def _write_deferred(
        self, connector: Connector, deferred: list[Deferred], now: datetime, report: CycleReport
    ) -> None:
        """A page's live plans: in bulk jobs when there are enough of them, else one by one."""
        if isinstance(connector, BulkWriter) and len(deferred) >= self.bulk.threshold:
            retry = BulkApplier(self, connector, connector, report, now).run(deferred)
        else:
            retry = [d.ticket for d in deferred]
        for ticket in retry:
            self.handle(connector, ticket, now, report, defer=False)

    def _prefetch_comments(
        self, connector: Connector, tickets: list[Ticket], now: datetime
    ) -> list[Ticket]:
        """Comments of the page's tickets whose rules need them, in a few requests when the
        connector can; the tickets it cannot vouch for keep the per-ticket read in `_decide`."""
        if not isinstance(connector, CommentPrefetcher):
            return tickets
        wanted = [
            t for t in tickets if not t.comments_loaded and self.policy.needs_comments(t, now)
        ]
        if not wanted:
            return tickets
        found = connector.prefetch_comments(wanted)
        if not found:
            return tickets
        out: list[Ticket] = []
        for ticket in tickets:
            comments = found.get(ticket.id)
            if comments is not None and not ticket.comments_loaded:
                ticket = derive_comment_fields(ticket, comments)
                self.store.observe(connector.name, ticket)  # the mirror keeps the text
            out.append(ticket)
        return out

    # -- one ticket ---------------------------------------------------------------------------

    def enrich(self, name: str, ticket: Ticket, now: datetime) -> Ticket:
        """Add what the mirror knows: the requester's recent tickets."""
        rid = ticket.requester.id
        if rid is None:
            return ticket
        requester = dataclasses.replace(
            ticket.requester,
            tickets_30d=self.store.requester_tickets(name, rid, now - timedelta(days=30)),
            tickets_90d=self.store.requester_tickets(name, rid, now - timedelta(days=90)),
        )
        return dataclasses.replace(ticket, requester=requester)

    def _context(self, name: str, ticket: Ticket, episode: int) -> tuple[EvalContext, set[str]]:
        """The evaluation context: rules fired this episode and surge neighbours."""
        ledger = self.store.ledger(name, ticket.id, episode)
        fired = {k[5:] for k, e in ledger.items() if k.startswith("rule:") and e.state == "done"}
        if ticket.comments_loaded:
            self._adopt_markers(name, ticket, episode, fired)
            fired |= _fired_from_markers(ticket.markers(), episode)
        surge: dict[str, list[datetime]] = {}
        for rule_id, within in self.policy.surge_windows().items():
            if ticket.created_at is None:
                continue
            hits = self.store.surge_hits(
                name, rule_id, ticket.created_at - within, ticket.created_at + within
            )
            if any(tid == ticket.id for tid, _ in hits):
                surge[rule_id] = [at for _, at in hits]
        done = {k for k, e in ledger.items() if e.state == "done"}
        return EvalContext(fired=frozenset(fired), surge_times=surge), done | {
            f"rule:{r}" for r in fired
        }

    def _adopt_markers(self, name: str, ticket: Ticket, episode: int, fired: set[str]) -> None:
        """Record rules whose marker is on the ticket but not in the ledger (a write whose
        answer was lost, or a state store started afresh), so they never fire twice."""
        now = self.clock()
        for rule in sorted(_fired_from_markers(ticket.markers(), episode) - fired):
            marker = next(m for m in ticket.markers() if m.startswith(f"{MARKER_PREFIX}{rule}:"))
            self.store.record_done(
                name,
                ticket.id,
                episode,
                f"rule:{rule}",
                now,
                {"marker": marker, "adopted": True, "tier": ticket.tier},
            )
            log.info(
                "adopted a marker found on the ticket", connector=name, ticket=ticket.id, rule=rule
            )
        tier = ticket.tier
        if (
            tier
            and self.store.active_entry(name, ticket.id) is None
            and any(m.endswith(f":{tier}:ep{episode}") for m in ticket.markers())
        ):
            deadlines = self.policy.deadlines(tier, now)
            self.store.enter_tier(
                name, ticket.id, episode, tier, now, deadlines.respond_by, deadlines.resolve_by
            )

    def _decide(
        self, connector: Connector, ticket: Ticket, now: datetime
    ) -> tuple[Ticket, int, Decision, Plan]:
        """Evaluate a ticket (loading comments only if a rule needs them) and plan its writes."""
        name = connector.name
        episode = self.store.episode(name, ticket.id)
        ctx, done = self._context(name, ticket, episode)
        if not ticket.comments_loaded and self.policy.needs_comments(ticket, now, ctx):
            ticket = connector.load_comments(ticket)
            self.store.observe(name, ticket)  # the mirror keeps the text for the clock
            ctx, done = self._context(name, ticket, episode)
        decision = self.policy.evaluate(ticket, now, ctx)
        history = History()
        if decision.matches and ticket.requester.id is not None:
            history = History(
                prior_tickets=max((ticket.requester.tickets_90d or 1) - 1, 0),
                recent_tickets=tuple(
                    self.store.recent_tickets(name, ticket.requester.id, ticket.id)
                ),
            )
        plan = build_plan(
            connector=name,
            profile=connector.profile,
            policy=self.policy,
            ticket=ticket,
            decision=decision,
            episode=episode,
            done_keys=done,
            history=history,
        )
        self._add_resolved_tasks(connector, ticket, episode, decision, plan, now)
        return ticket, episode, decision, plan

    def handle(
        self,
        connector: Connector,
        ticket: Ticket,
        now: datetime,
        report: CycleReport,
        *,
        defer: bool = True,
    ) -> None:
        """Decide, then apply or record, retrying on a concurrent change.

        While pages collect plans for bulk writes (`self._deferred` is a dict), a live plan
        is queued there instead of written; `defer=False` writes it now.
        """
        name = connector.name
        if (name, ticket.id) in self.postponed:
            log.info("ticket has writes still settling; left for later", ticket=ticket.id)
            return
        try:
            for attempt in range(MAX_CONFLICT_RETRIES + 1):
                ticket, episode, decision, plan = self._decide(connector, ticket, now)
                if plan.is_empty():
                    self._audit(connector, report, episode, decision, None, "no-change", [], [])
                    return
                if report.dry_run:
                    self._audit(
                        connector,
                        report,
                        episode,
                        decision,
                        plan,
                        "dry-run",
                        [],
                        calls_for(plan),
                    )
                    self._row(report, ticket, decision, plan, "dry-run")
                    return
                if defer and self._deferred is not None:
                    # a later page's read of the same ticket replaces the earlier plan
                    self._deferred[ticket.id] = Deferred(
                        ticket, episode, decision, plan, _rule_intents(decision, plan)
                    )
                    return
                try:
                    made = self.apply_plan(
                        connector, ticket, plan, _rule_intents(decision, plan), now, report
                    )
                except ConflictError:
                    report.conflicts += 1
                    log.info(
                        "ticket changed meanwhile; re-reading",
                        connector=name,
                        ticket=ticket.id,
                        attempt=attempt + 1,
                    )
                    ticket = self.reread(connector, ticket.id, now)
                    continue
                self.finish(connector, report, ticket, episode, decision, plan, made)
                return
            raise SkippableError(
                f"ticket {ticket.id} kept changing during {MAX_CONFLICT_RETRIES} re-reads",
                ticket_id=ticket.id,
            )
        except SkippableError as exc:
            self.skip(connector, report, ticket.id, str(exc), now)

    def reread(self, connector: Connector, ticket_id: int, now: datetime) -> Ticket:
        """Read a ticket again with its comments (a write whose answer was lost shows its
        marker there), into the mirror."""
        fresh = connector.load_comments(connector.fetch_ticket(ticket_id))
        ticket = self.enrich(connector.name, fresh, now)
        self.store.observe(connector.name, ticket)
        return ticket

    def finish(
        self,
        connector: Connector,
        report: CycleReport,
        ticket: Ticket,
        episode: int,
        decision: Decision,
        plan: Plan,
        made: list[str],
    ) -> None:
        """After a plan's writes landed: the tier entry, the audit record, the report row."""
        if decision.target_tier and decision.deadlines and plan.update is not None:
            self.store.enter_tier(
                connector.name,
                ticket.id,
                episode,
                decision.target_tier,
                decision.now,
                decision.deadlines.respond_by,
                decision.deadlines.resolve_by,
            )
        self._audit(connector, report, episode, decision, plan, "applied", made, [])
        self._row(report, ticket, decision, plan, "applied")

    def skip(
        self, connector: Connector, report: CycleReport, ticket_id: int, reason: str, now: datetime
    ) -> None:
        """A ticket that cannot be handled: a dead letter and an audit record."""
        report.skipped += 1
        log.warning("ticket skipped", connector=connector.name, ticket=ticket_id, reason=reason)
        self.store.dead_letter(connector.name, ticket_id, reason, None, now)
        self.audit.write(
            {
                "at": iso(now),
                "connector": connector.name,
                "ticket": ticket_id,
                "dry_run": report.dry_run,
                "outcome": "skipped",
                "error": reason,
            }
        )

    def announce(
        self,
        connector: Connector,
        ticket: Ticket,
        plan: Plan,
        intents: list[tuple[str, dict[str, Any]]],
        now: datetime,
    ) -> None:
        """Write every intent of a plan to the ledger before anything is sent.

        What follows the note (reply, tasks) is tied to its first marker: after a crash or a
        lost answer it is carried out only if that marker is on the ticket.
        """
        name, episode, store = connector.name, plan.episode, self.store
        update = plan.update
        reply = update.customer_message if update else None
        writes_note = update is not None and update.note is not None and bool(plan.markers)
        after = {"after_marker": plan.markers[0]} if writes_note else {}
        for key, detail in intents:
            store.record_intent(name, ticket.id, episode, key, detail, now)
        if reply:
            store.record_intent(name, ticket.id, episode, "reply", {"message": reply, **after}, now)
        for task in plan.tasks:
            store.record_intent(
                name,
                ticket.id,
                episode,
                f"task:{task.external_id}",
                {**task_detail(task), **after},
                now,
            )

    def apply_plan(
        self,
        connector: Connector,
        ticket: Ticket,
        plan: Plan,
        intents: list[tuple[str, dict[str, Any]]],
        now: datetime,
        report: CycleReport,
    ) -> list[str]:
        """Announce, write, record: one update for the ticket, then each task.

        `intents` are the ledger entries (key, detail with the note's marker) that the update
        settles: recorded before it is sent, marked done once it landed.
        """
        name, episode, store = connector.name, plan.episode, self.store
        update = plan.update
        reply = update.customer_message if update else None
        writes_note = update is not None and update.note is not None and bool(plan.markers)
        self.announce(connector, ticket, plan, intents, now)
        made: list[str] = []
        version = ticket.version
        if update is not None and not update.is_empty():
            main = dataclasses.replace(update, customer_message=None)
            try:
                version = connector.apply_update(main)
            except SkippableError:
                store.forget_intents(name, ticket.id, episode)
                raise
            except ConflictError:
                # it may still have landed with its answer lost: the marker-bearing intents go
                # (the re-read decides again); the rest waits for recovery to check the marker
                store.forget_keys(name, ticket.id, episode, [key for key, _ in intents])
                if not writes_note:
                    store.forget_intents(name, ticket.id, episode)
                raise
            made.append(f"PUT ticket {ticket.id}")
            report.updates += 1
            for key, _ in intents:
                store.record_done(name, ticket.id, episode, key, self.clock())
        if reply:
            version = self.send_reply(connector, ticket.id, version, reply) or version
            store.record_done(name, ticket.id, episode, "reply", self.clock())
            made.append(f"PUT ticket {ticket.id} (public reply)")
        if update is not None:
            self._remember_write(connector, ticket, update, version)
        for task in plan.tasks:
            task_id = connector.create_task(task)
            store.record_done(
                name,
                ticket.id,
                episode,
                f"task:{task.external_id}",
                self.clock(),
                {"task_id": task_id},
            )
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

    def _remember_write(
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

    # -- playbook steps anchored on resolution ------------------------------------------------

    def _add_resolved_tasks(
        self,
        connector: Connector,
        ticket: Ticket,
        episode: int,
        decision: Decision,
        plan: Plan,
        now: datetime,
    ) -> None:
        """When an escalated ticket is solved, plan its follow-up and review steps."""
        if ticket.status not in CLOSED_STATUSES:
            return
        ledger = self.store.ledger(connector.name, ticket.id, episode)
        escalations = [
            e.detail
            for k, e in ledger.items()
            if k.startswith("rule:") and e.state == "done" and e.detail.get("tier")
        ]
        if decision.target_tier and plan.update is not None:
            # escalated while already solved: its resolution steps start now, in the same plan
            escalations.append({"tier": decision.target_tier, "playbooks": decision.playbooks})
        if not escalations:
            return
        last = escalations[-1]
        tier = str(last["tier"])
        resolved_at = ticket.updated_at or now
        specs = self.policy.resolved_tasks(list(last.get("playbooks") or []), resolved_at, tier)
        plan.tasks += tasks_for(
            connector.name,
            connector.profile,
            ticket,
            episode,
            tier,
            specs,
            set(ledger),
            f"solved {iso(resolved_at)}",
        )

    # -- records ------------------------------------------------------------------------------

    def _audit(
        self,
        connector: Connector,
        report: CycleReport,
        episode: int,
        decision: Decision,
        plan: Plan | None,
        outcome: str,
        made: list[str],
        withheld: list[str],
    ) -> None:
        if decision.matches:
            report.matched += 1
            for m in decision.matches:
                report.rules[m.rule] += 1
            if decision.target_tier and plan is not None and not plan.is_empty():
                report.tiers[decision.target_tier] += 1
        self.audit.write(
            decision_record(
                connector=connector.name,
                dry_run=report.dry_run,
                episode=episode,
                decision=decision,
                plan=plan,
                outcome=outcome,
                calls_made=made,
                calls_withheld=withheld,
                at=self.clock(),
            )
        )

    def _row(
        self, report: CycleReport, ticket: Ticket, decision: Decision, plan: Plan, outcome: str
    ) -> None:
        d = decision.deadlines
        report.rows.append(
            PlannedRow(
                ticket=ticket.id,
                subject=ticket.subject,
                rules=[m.rule for m in decision.matches],
                tier_from=decision.current_tier,
                tier_to=decision.target_tier,
                respond_by=iso(d.respond_by) if d else None,
                resolve_by=iso(d.resolve_by) if d else None,
                tasks=len(plan.tasks),
                outcome=outcome,
            )
        )


def _rule_intents(decision: Decision, plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """Ledger intents for the rules a plan fires, each with its marker."""
    enter = (
        entry_detail(decision.target_tier, decision.now, decision.deadlines)
        if decision.target_tier and decision.deadlines
        else None
    )
    by_rule = {m[len(MARKER_PREFIX) :].split(":")[0]: m for m in plan.markers}
    intents = [
        (
            f"rule:{m.rule}",
            {
                "marker": by_rule[m.rule],
                "tier": decision.target_tier,
                "playbooks": decision.playbooks,
                "enter": enter,
            },
        )
        for m in decision.matches
        if m.rule in by_rule
    ]
    if intents and enter and plan.update is not None and plan.update.note:
        # recovery finishes a tier move whose fields landed without the note (RT, Freshdesk)
        intents[0][1]["note"] = plan.update.note
    return intents


def _fired_from_markers(markers: set[str], episode: int) -> set[str]:
    """Rules whose marker for this episode is already on the ticket."""
    fired = set()
    for m in markers:
        parts = m[len(MARKER_PREFIX) :].split(":")
        if len(parts) == 3 and parts[2] == f"ep{episode}":
            fired.add(parts[0])
    return fired
