"""The clock: tier entries, the due index and the ladder, worked from the mirror.

Between polls the worker looks only at tickets whose due instant has come (a deadline, a
reminder, a time condition turning true), evaluates them from the mirror, and talks to the
helpdesk only to write.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from esc_sync.connectors.base import Connector
from esc_sync.errors import ConflictError, SkippableError
from esc_sync.model import CLOSED_STATUSES, Plan, Ticket, TicketUpdate
from esc_sync.state.sqlite import TierEntry
from esc_sync.worker.ladder import LadderStep, missed_note, pending_steps, reminder_note
from esc_sync.worker.planner import calls_for, entry_detail, iso, tasks_for

if TYPE_CHECKING:
    from esc_sync.worker.cycle import Worker
    from esc_sync.worker.results import CycleReport

log = structlog.get_logger("esc_sync.clock")

MAX_CONFLICT_RETRIES = 3


class Clockwork:
    """The worker's time-driven side: follows tier entries and acts when they come due."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def track(self, connector: Connector, ticket: Ticket, now: datetime) -> Ticket:
        """Follow the tier entry the worker watches: response, pause, resolution, a human move."""
        name = connector.name
        entry = self.worker.store.active_entry(name, ticket.id)
        if entry is None:
            return ticket
        if ticket.status in CLOSED_STATUSES:
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
            entry.resolve_by = self._resume(entry, now)
            entry.paused_since = None
        if entry.responded_at is None:
            if not ticket.comments_loaded:
                ticket = connector.load_comments(ticket)
                self.worker.store.observe(name, ticket)
            replies = [
                c.created_at
                for c in ticket.comments
                if c.author_role == "agent" and c.created_at > entry.entered_at
            ]
            entry.responded_at = min(replies, default=None)
        self.worker.store.update_entry(entry)
        return ticket

    def _resume(self, entry: TierEntry, now: datetime) -> datetime:
        """The resolution deadline pushed out by the business time spent paused."""
        since = entry.paused_since or now
        clock = self.worker.policy.clock_for(entry.tier)
        if clock is None:
            return entry.resolve_by + (now - since)
        return clock.add(entry.resolve_by, clock.between(since, now))

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
        if entry is not None:
            instants += [step.at for step in pending_steps(self.worker.policy, entry, done)]
        flip = self.worker.policy.next_time_change(ticket, now, fired)
        if flip is not None:
            instants.append(flip)
        self.worker.store.set_due(name, ticket_id, min(instants, default=None))

    def sweep(self, connector: Connector, report: CycleReport) -> None:
        """Every ticket that is due: ladder steps, then time rules, from the mirror."""
        name = connector.name
        now = self.worker.clock()
        for ticket_id in self.worker.store.due_tickets(name, now):
            if self.worker.should_stop():
                return
            ticket = self.worker.store.mirrored(name, ticket_id)
            if ticket is None:
                self.worker.store.set_due(name, ticket_id, None)
                continue
            ticket = self.worker.enrich(name, ticket, now)
            self._climb(connector, ticket, now, report)
            fresh = self.worker.store.mirrored(name, ticket_id) or ticket
            self.worker.handle(connector, self.worker.enrich(name, fresh, now), now, report)
            self.reschedule(name, ticket_id, now)

    def _climb(
        self, connector: Connector, ticket: Ticket, now: datetime, report: CycleReport
    ) -> None:
        """Send due reminders, or move the ticket up when its tier missed a deadline."""
        name = connector.name
        entry = self.worker.store.active_entry(name, ticket.id)
        if entry is None:
            return
        ledger = self.worker.store.ledger(name, ticket.id, entry.episode)
        done = {k for k, e in ledger.items() if e.state == "done"}
        due = [s for s in pending_steps(self.worker.policy, entry, done) if s.at <= now]
        moot = _moot_reminders(due, now)
        if moot and not report.dry_run:
            for step, why in moot.items():
                self.worker.store.record_done(name, ticket.id, entry.episode, step.key, now, why)
        due = [s for s in due if s not in moot]
        if not due:
            return
        for _attempt in range(MAX_CONFLICT_RETRIES + 1):
            plan, intents, target = self._ladder_plan(connector, ticket, entry, due, done, now)
            record = {
                "at": iso(now),
                "connector": name,
                "ticket": ticket.id,
                "episode": entry.episode,
                "dry_run": report.dry_run,
                "ladder": [
                    {
                        "step": s.kind,
                        "deadline": s.deadline,
                        "tier": entry.tier,
                        "to": s.to_tier,
                        "offset": s.offset,
                    }
                    for s in due
                ],
                "tier_from": entry.tier,
                "tier_to": target,
            }
            if report.dry_run:
                self.worker.audit.write(
                    {
                        **record,
                        "outcome": "dry-run",
                        "calls": {"made": [], "withheld": calls_for(plan)},
                    }
                )
                return
            try:
                made = self.worker.apply_plan(connector, ticket, plan, intents, now, report)
            except ConflictError:
                report.conflicts += 1
                fresh = connector.load_comments(connector.fetch_ticket(ticket.id))
                ticket = self.worker.enrich(name, fresh, now)
                self.worker.store.observe(name, ticket)
                landed = ticket.markers()  # a write whose answer was lost left its marker
                for step in due:
                    if step.marker in landed:
                        store = self.worker.store
                        store.record_done(name, ticket.id, entry.episode, step.key, now)
                        done.add(step.key)
                        if step.to_tier is not None:
                            dl = self.worker.policy.deadlines(step.to_tier, now)
                            store.enter_tier(
                                name,
                                ticket.id,
                                entry.episode,
                                step.to_tier,
                                now,
                                dl.respond_by,
                                dl.resolve_by,
                            )
                due = [s for s in due if s.key not in done]
                if not due:
                    return
                continue
            except SkippableError as exc:
                self.worker.store.dead_letter(name, ticket.id, f"ladder: {exc}", None, now)
                report.skipped += 1
                return
            if target is not None:
                deadlines = self.worker.policy.deadlines(target, now)
                self.worker.store.enter_tier(
                    name,
                    ticket.id,
                    entry.episode,
                    target,
                    now,
                    deadlines.respond_by,
                    deadlines.resolve_by,
                )
                report.tiers[target] += 1
            self.worker.audit.write(
                {**record, "outcome": "applied", "calls": {"made": made, "withheld": []}}
            )
            log.info(
                "ladder step applied",
                connector=name,
                ticket=ticket.id,
                tier=entry.tier,
                to=target,
                steps=[s.key for s in due],
            )
            return

    def _ladder_plan(
        self,
        connector: Connector,
        ticket: Ticket,
        entry: TierEntry,
        due: list[LadderStep],
        done: set[str],
        now: datetime,
    ) -> tuple[Plan, list[tuple[str, dict[str, Any]]], str | None]:
        """One update for the due steps: a move up (reminders then moot) or reminder notes."""
        profile = connector.profile
        plan = Plan(ticket_id=ticket.id, episode=entry.episode)
        update = TicketUpdate(ticket_id=ticket.id, version=ticket.version)
        move = next((s for s in due if s.kind == "missed"), None)
        if move is None:
            update.note = reminder_note(self.worker.policy, entry, due, now)
            plan.markers = [s.marker for s in due]
            plan.update = update
            return plan, [(s.key, {"marker": s.marker}) for s in due], None
        target = move.to_tier or entry.tier
        deadlines = self.worker.policy.deadlines(target, now)
        tag = f"esc-missed-{move.deadline}"
        if tag not in ticket.tags:
            update.tags = (*ticket.tags, tag)
        group = profile.groups.get(target)
        if group is not None and str(group) != str(ticket.group):
            update.group = group
        fields = {
            "escalation_status": f"{target} escalated (missed {move.deadline} at "
            f"{entry.tier}) at {iso(now)}",
            "respond_by": iso(deadlines.respond_by),
            "resolve_by": iso(deadlines.resolve_by),
        }
        update.custom_fields = {k: v for k, v in fields.items() if k in profile.fields}
        update.note = missed_note(
            self.worker.policy, entry, move, deadlines.respond_by, deadlines.resolve_by, now
        )
        plan.markers = [move.marker]
        plan.update = update
        playbook = self.worker.policy.tier(target).playbook
        specs = self.worker.policy.escalation_tasks([playbook], now, target) if playbook else []
        plan.tasks = tasks_for(
            connector.name,
            profile,
            ticket,
            entry.episode,
            target,
            specs,
            done,
            f"moved to {self.worker.policy.tier(target).name}",
        )
        return (
            plan,
            [
                (
                    move.key,
                    {
                        "marker": move.marker,
                        "tier": target,
                        "playbooks": [playbook] if playbook else [],
                        "enter": entry_detail(target, now, deadlines),
                    },
                )
            ],
            target,
        )


def _moot_reminders(due: list[LadderStep], now: datetime) -> dict[LadderStep, dict[str, str]]:
    """Due reminders that would say nothing: their deadline has passed (a worker that was down
    past it), or a move up is due with them. Each with the reason the ledger keeps."""
    move = next((s for s in due if s.kind == "missed"), None)
    moot: dict[LadderStep, dict[str, str]] = {}
    for step in due:
        if step.kind != "remind":
            continue
        if move is not None:
            moot[step] = {"superseded_by": move.key}
        elif step.deadline_at <= now:
            moot[step] = {"moot": "deadline passed"}
    return moot
