"""Crash recovery: settle ledger intents left open between announcing and recording a write.

An open intent is resolved by reading the ticket (the note's marker, the task's external id)
before anything is written again: a write that landed is recorded, one that did not is
forgotten and planned afresh, and tasks announced with a landed update are found or created.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import structlog

from esc_sync.apply.applier import Applier, retarget_entry
from esc_sync.apply.results import CycleReport
from esc_sync.apply.retry import RETRY_KEY
from esc_sync.connectors.base import BulkWriter, Connector, JobLister
from esc_sync.errors import RateLimited, SkippableError, TransientError
from esc_sync.model import (
    LedgerEntry,
    Notification,
    TaskCreate,
    Ticket,
    TicketUpdate,
    TierMove,
)
from esc_sync.plan.facts import message_waiting
from esc_sync.plan.writes import has_reply
from esc_sync.state.protocol import DeadLetters, TierEntries

log = structlog.get_logger("esc_sync.recovery")

# Intent details that describe the write's circumstances, not the write itself.
BOOKKEEPING = frozenset(
    {"after_marker", "jobs", "settle_after", "attempts", "retry_after", "error", "sending"}
)


def recover(
    applier: Applier, dead: DeadLetters, connector: Connector, report: CycleReport
) -> list[Ticket]:
    """Settle intents left open by a crash or an unfinished bulk job: read the ticket, finish
    or forget the write. Tickets whose bulk job may still run are left for a later cycle.

    Returns the tickets whose write did not land: the caller plans and writes them again.
    """
    name = connector.name
    by_ticket: dict[tuple[int, int], list[LedgerEntry]] = {}
    messages: list[LedgerEntry] = []
    for entry in applier.store.open_intents(name):
        if message_waiting(entry.key, entry.detail):
            messages.append(entry)  # its writes landed: no need to read or hold the ticket
            continue
        by_ticket.setdefault((entry.ticket_id, entry.episode), []).append(entry)
    running = _running_jobs(connector, by_ticket.values())
    in_flight = _lost_submission_may_run(connector, by_ticket.values())
    now = applier.clock()
    for e in messages:
        if datetime.fromisoformat(e.detail["retry_after"]) <= now:
            notice = Notification.from_detail(e.key, e.detail)
            applier.messages.send(name, e.ticket_id, e.episode, notice, report)
    again: list[Ticket] = []
    for (ticket_id, episode), entries in by_ticket.items():
        if _still_settling(entries, running, now, in_flight):
            applier.postponed.add((name, ticket_id))
            continue
        applier.postponed.discard((name, ticket_id))
        landed = settle_ticket(applier, dead, connector, ticket_id, episode, report, entries)
        if landed is not None:
            again.append(landed)
    return again


def settle_ticket(
    applier: Applier,
    dead: DeadLetters,
    connector: Connector,
    ticket_id: int,
    episode: int,
    report: CycleReport,
    entries: list[LedgerEntry] | None = None,
) -> Ticket | None:
    """Settle one ticket's open intents by reading it; returns the ticket when a write did
    not land (it is to be planned and carried out again at once)."""
    name = connector.name
    if entries is None:
        entries = [e for e in applier.store.open_intents(name) if e.ticket_id == ticket_id]
    try:
        landed = _recover_ticket(applier, connector, ticket_id, episode, entries)
        report.recovered += 1
    except SkippableError as exc:
        applier.store.forget_intents(name, ticket_id, episode)
        dead.dead_letter(name, ticket_id, f"recovery: {exc}", None, applier.clock())
        return None
    except TransientError as exc:
        if isinstance(exc, RateLimited):
            raise  # the account's budget is spent: the cycle stops, intents stay open
        applier.defer(name, report, ticket_id, episode, f"recovery: {exc}")
        return None
    return landed


def _running_jobs(connector: Connector, groups: Iterable[list[LedgerEntry]]) -> set[str]:
    """The bulk jobs named by open intents that the helpdesk still runs."""
    ids = {j for entries in groups for e in entries for j in e.detail.get("jobs", []) if j}
    if not ids or not isinstance(connector, BulkWriter):
        return set()
    statuses = connector.poll_jobs(sorted(ids))
    return {j for j, s in statuses.items() if s.state == "running"}


def _lost_submission_may_run(connector: Connector, groups: Iterable[list[LedgerEntry]]) -> bool:
    """Whether a bulk submission whose answer was lost may still be running: unless the
    account's recent job statuses show none queued or working, assume it may (and wait)."""
    lost = any(None in e.detail.get("jobs", []) for entries in groups for e in entries)
    if not lost or not isinstance(connector, JobLister):
        return True
    try:
        return connector.jobs_in_flight()
    except TransientError:
        return True


def _still_settling(
    entries: list[LedgerEntry], running: set[str], now: datetime, in_flight: bool = True
) -> bool:
    """True while a ticket's bulk job may still write (it runs, or its submission's answer
    was lost, the settle time has not come and the account still has a job in flight), or
    while a deferred ticket waits its turn."""
    for e in entries:
        retry = e.detail.get("retry_after")
        if retry and datetime.fromisoformat(retry) > now:
            return True
        jobs = e.detail.get("jobs", [])
        if any(j in running for j in jobs):
            return True
        settle = e.detail.get("settle_after")
        if None in jobs and settle and datetime.fromisoformat(settle) > now and in_flight:
            return True
    return False


def _recover_ticket(
    applier: Applier,
    connector: Connector,
    ticket_id: int,
    episode: int,
    entries: list[LedgerEntry],
) -> Ticket | None:
    """Recover one ticket's open intents; returns the ticket when its write did not land."""
    name, store, clock = connector.name, applier.store, applier.clock
    rules = [e for e in entries if "marker" in e.detail]
    ticket = connector.load_comments(connector.fetch_ticket(ticket_id))
    if all(e.key == RETRY_KEY for e in entries):  # deferred before any write: plan it again
        store.forget_intents(name, ticket_id, episode)
        store.observe(name, ticket)
        return ticket
    store.forget_keys(name, ticket_id, episode, [RETRY_KEY])
    markers = ticket.markers()
    if rules:
        if not all(e.detail.get("marker") in markers for e in rules):
            if not _finish_note(connector, ticket, rules):
                log.info(
                    "write did not land before the crash; it will be planned again",
                    connector=name,
                    ticket=ticket_id,
                )
                store.forget_intents(name, ticket_id, episode)
                store.observe(name, ticket)
                return ticket
            markers |= {str(e.detail["marker"]) for e in rules}
        with store.page_writes(name):  # a rule done and its tier entry: one transaction
            for e in rules:
                store.record_done(name, ticket_id, episode, e.key, clock())
                _finish_retarget(store, name, ticket_id, e)
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
    for e in entries:
        after = e.detail.get("after_marker")
        if after is not None and after not in markers:
            store.forget_keys(name, ticket_id, episode, [e.key])  # its update never landed
            continue
        if e.key == "reply":
            message = str(e.detail["message"])
            if not has_reply(ticket, message):
                applier.send_reply(connector, ticket_id, ticket.version, message)
            store.record_done(name, ticket_id, episode, e.key, clock())
        elif e.key.startswith("task:"):
            fields = {k: v for k, v in e.detail.items() if k not in BOOKKEEPING}
            due = fields.get("due_at")
            task = TaskCreate(**{**fields, "due_at": datetime.fromisoformat(due) if due else None})
            task_id = connector.find_task(task.external_id) or connector.create_task(task)
            store.record_done(name, ticket_id, episode, e.key, clock(), {"task_id": task_id})
        elif e.key.startswith("notify:"):
            # announced with a write that landed, or marked `sending` when the process died
            # (then it may have gone out: sent again, at most once more, and the audit says so)
            notice = Notification.from_detail(e.key, e.detail)
            sending = bool(e.detail.get("sending"))
            applier.messages.send(name, ticket_id, episode, notice, None, maybe_sent=sending)
    log.info("recovered interrupted writes", connector=name, ticket=ticket_id)
    return None


def _finish_note(connector: Connector, ticket: Ticket, rules: list[LedgerEntry]) -> bool:
    """Write the note of a tier move whose fields landed without it; True when written.

    Connectors that write fields and note in two requests (RT, Freshdesk) can be stopped
    between them. The ticket then sits in the tier the intent moves it to, without the marker:
    planning afresh would see no move left to make (and no playbook to start), so the intent is
    finished instead, with the note it recorded.
    """
    note = next((e.detail["note"] for e in rules if e.detail.get("note")), None)
    enter = next((e.detail["enter"] for e in rules if e.detail.get("enter")), None)
    if not note or not enter or ticket.tier != enter.get("tier"):
        return False
    connector.apply_update(TicketUpdate(ticket_id=ticket.id, version=None, note=str(note)))
    log.info(
        "tier move landed without its note; note written now",
        connector=connector.name,
        ticket=ticket.id,
        tier=ticket.tier,
    )
    return True


def _finish_retarget(store: TierEntries, name: str, ticket_id: int, e: LedgerEntry) -> None:
    """A landed note of deadlines counted again: give the tier entry those deadlines."""
    retarget = e.detail.get("retarget")
    if not isinstance(retarget, dict) or not e.key.startswith("retarget:"):
        return
    tier = e.key.split(":")[1]
    respond, resolve = (datetime.fromisoformat(retarget[k]) for k in ("respond_by", "resolve_by"))
    retarget_entry(store, name, ticket_id, TierMove(tier, respond, respond, resolve))
