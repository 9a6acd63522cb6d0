"""Crash recovery: settle ledger intents left open between announcing and recording a write.

An open intent is resolved before anything is written again: a write that landed is recorded,
one that did not is forgotten and planned afresh, and tasks announced with a landed update are
found or created. Intents of a bulk job that the helpdesk reports complete are settled from the
job's item outcomes, without a read (after a crash in a 10,000-ticket first sync that is a few
requests instead of tens of thousands); any other intent is settled by reading the ticket (the
note's marker, the task's external id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from esc_sync.apply.applier import Applier, retarget_entry
from esc_sync.apply.results import CycleReport
from esc_sync.apply.retry import RETRY_KEY
from esc_sync.connectors.base import (
    BulkWriter,
    Connector,
    JobItem,
    JobLister,
    JobStatus,
    job_slot,
)
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
    {"after_marker", "jobs", "slots", "settle_after", "attempts", "retry_after", "error", "sending"}
)


def recover(
    applier: Applier, dead: DeadLetters, connector: Connector, report: CycleReport
) -> list[Ticket]:
    """Settle intents left open by a crash or an unfinished bulk job: from the outcomes of
    completed bulk jobs, or by reading the ticket (many tickets a request where the API
    allows); finish or forget the write. Tickets whose bulk job may still run are left for a
    later cycle.

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
    statuses = _job_statuses(connector, by_ticket.values())
    running = {j for j, s in statuses.items() if s.state == "running"}
    in_flight = _lost_submission_may_run(connector, by_ticket.values())
    now = applier.clock()
    for e in messages:
        if datetime.fromisoformat(e.detail["retry_after"]) <= now:
            notice = Notification.from_detail(e.key, e.detail)
            applier.messages.send(name, e.ticket_id, e.episode, notice, report)
    due: list[tuple[int, int, list[LedgerEntry], Proof | None]] = []
    for (ticket_id, episode), entries in by_ticket.items():
        if _still_settling(entries, running, now, in_flight):
            applier.postponed.add((name, ticket_id))
            continue
        applier.postponed.discard((name, ticket_id))
        due.append(
            (
                ticket_id,
                episode,
                entries,
                _proof(applier, name, ticket_id, episode, entries, statuses),
            )
        )
    read = _read_tickets(connector, [t for t, _, _, proof in due if proof is None])
    again: list[Ticket] = []
    for ticket_id, episode, entries, proof in due:
        landed = settle_ticket(
            applier,
            dead,
            connector,
            ticket_id,
            episode,
            report,
            entries,
            proof=proof,
            read=read.get(ticket_id),
        )
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
    *,
    proof: Proof | None = None,
    read: Ticket | None = None,
) -> Ticket | None:
    """Settle one ticket's open intents, from what its completed bulk jobs prove (`proof`)
    or by reading it (`read`: the ticket already read, without its comments); returns the
    ticket when a write did not land (it is to be planned and carried out again at once)."""
    name = connector.name
    if entries is None:
        entries = [e for e in applier.store.open_intents(name) if e.ticket_id == ticket_id]
    try:
        if proof is not None:
            _record_landed(applier, connector, ticket_id, episode, entries, proof)
            log.info(
                "recovered interrupted writes from job outcomes", connector=name, ticket=ticket_id
            )
            landed = None
        else:
            landed = _recover_ticket(applier, connector, ticket_id, episode, entries, read)
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


def _proof(
    applier: Applier,
    name: str,
    ticket_id: int,
    episode: int,
    entries: list[LedgerEntry],
    statuses: Mapping[str, JobStatus],
) -> Proof | None:
    """What the completed jobs prove about the ticket's open intents, if that settles them."""
    if not statuses or not any(e.detail.get("jobs") for e in entries):
        return None  # no job to prove anything: no need to read the ledger's done rules
    return _from_jobs(
        ticket_id, entries, statuses, _done_markers(applier, name, ticket_id, episode)
    )


def _read_tickets(connector: Connector, ticket_ids: list[int]) -> dict[int, Ticket]:
    """The tickets to settle by reading, read many a request (`fetch_tickets`). Their comments
    are read one by one (they have just been written: no export covers them yet). A ticket
    left out, or every ticket when the read fails for now, is read alone instead, where its
    errors are a matter of that ticket (a deleted one is dead-lettered, a failing one deferred).
    """
    if len(ticket_ids) < 2:
        return {}
    try:
        return {t.id: t for t in connector.fetch_tickets(ticket_ids)}
    except RateLimited:
        raise
    except (TransientError, SkippableError) as exc:
        log.warning("recovery: reading tickets in bulk failed; one by one", error=str(exc))
        return {}


def _done_markers(applier: Applier, name: str, ticket_id: int, episode: int) -> set[str]:
    """The notes of the rules the ledger records done in this episode."""
    return {
        str(e.detail["marker"])
        for e in applier.store.ledger(name, ticket_id, episode).values()
        if e.state == "done" and "marker" in e.detail
    }


def _job_statuses(
    connector: Connector, groups: Iterable[list[LedgerEntry]]
) -> dict[str, JobStatus]:
    """What the helpdesk says of the bulk jobs named by open intents (a job it no longer
    knows is left out)."""
    ids = {j for entries in groups for e in entries for j in e.detail.get("jobs", []) if j}
    if not ids or not isinstance(connector, BulkWriter):
        return {}
    return connector.poll_jobs(sorted(ids))


@dataclass(slots=True)
class Proof:
    """What a ticket's completed bulk jobs prove about its open intents.

    `markers`: the notes known to be on the ticket (of its open rule intents, proven by
    their update's item, and of the rules the ledger records done). `landed`: other intents
    whose own job item succeeded, with the created task's id (or None for a reply). `fresh`:
    intents that follow the note of an open rule (`after_marker`); the worker writes them only
    once the note is recorded, so with the note's rule still open they were never attempted.
    """

    markers: set[str] = field(default_factory=set)
    landed: dict[str, int | None] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)


def _from_jobs(
    ticket_id: int,
    entries: list[LedgerEntry],
    statuses: Mapping[str, JobStatus],
    done: set[str],
) -> Proof | None:
    """What the completed bulk jobs prove about a ticket's open intents, when that settles
    every one of them without reading the ticket; None when the ticket must be read.

    An update job's item is keyed by ticket id; a reply's or a task's item is found by the
    slot recorded in its intent (or by its external id). Only successes prove anything: a
    failed item, a job that failed as a whole or vanished, a deferred write, or a reply that is
    neither proven nor fresh leave the ticket to the read. A task that is neither is looked up
    by its external id, as after a read.
    """

    def item(e: LedgerEntry, key: int | str, own_job: bool = False) -> JobItem | None:
        """The successful item settling `e` (`own_job`: only in a job `e` has a slot in)."""
        slots = e.detail.get("slots", {})
        for job in e.detail.get("jobs", []):
            status = statuses.get(job) if job else None
            if status is None or status.state != "completed" or (own_job and job not in slots):
                continue
            found = status.items.get(key)
            if found is None and job in slots:  # a restarted worker knows only the place
                found = status.items.get(job_slot(int(slots[job])))
            if found is not None and found.ok:
                return found
        return None

    proof = Proof()
    for e in entries:
        if "marker" in e.detail:
            if item(e, ticket_id) is None:
                return None
            proof.markers.add(str(e.detail["marker"]))
    opened, proof.markers = proof.markers, proof.markers | done
    for e in entries:
        after = e.detail.get("after_marker")
        if "marker" in e.detail:
            continue
        if after is not None and after not in proof.markers:
            return None  # it follows a note that is neither recorded nor proven
        if e.key == "reply" or e.key.startswith("task:"):
            if after is not None and after in opened:
                proof.fresh.add(e.key)
                continue
            # a reply's item is keyed by ticket id in its own job, a task's by external id
            key = ticket_id if e.key == "reply" else e.key.removeprefix("task:")
            found = item(e, key, own_job=e.key == "reply")
            if found is not None and (e.key == "reply" or found.id is not None):
                proof.landed[e.key] = found.id if e.key != "reply" else None
            elif e.key == "reply":
                return None  # whether the reply went out is only known by reading
        elif not e.key.startswith("notify:"):
            return None  # a deferred write: read the ticket
    return proof


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
    read: Ticket | None = None,
) -> Ticket | None:
    """Recover one ticket's open intents by reading it (`read`: already read, without its
    comments); returns the ticket when its write did not land."""
    name, store = connector.name, applier.store
    rules = [e for e in entries if "marker" in e.detail]
    ticket = connector.load_comments(read or connector.fetch_ticket(ticket_id))
    if all(e.key == RETRY_KEY for e in entries):  # deferred before any write: plan it again
        store.forget_intents(name, ticket_id, episode)
        store.observe(name, ticket)
        return ticket
    store.forget_keys(name, ticket_id, episode, [RETRY_KEY])
    markers = ticket.markers()
    if rules and not all(e.detail.get("marker") in markers for e in rules):
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
    _record_landed(applier, connector, ticket_id, episode, entries, Proof(markers), ticket)
    log.info("recovered interrupted writes", connector=name, ticket=ticket_id)
    return None


def _record_landed(
    applier: Applier,
    connector: Connector,
    ticket_id: int,
    episode: int,
    entries: list[LedgerEntry],
    proof: Proof,
    ticket: Ticket | None = None,
) -> None:
    """Record what landed (the open rules, whose notes are `proof.markers` or on the ticket)
    with their tier entries, and finish what follows: the reply, the tasks, the notifications.
    `ticket` is the ticket as read (None when the jobs proved enough)."""
    markers = proof.markers
    name, store, clock = connector.name, applier.store, applier.clock
    rules = [e for e in entries if "marker" in e.detail]
    if rules:
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
            if e.key in proof.fresh:
                applier.send_reply(connector, ticket_id, None, message)
            elif e.key not in proof.landed:
                assert ticket is not None, "a reply not proven by its job is settled by a read"
                if not has_reply(ticket, message):
                    applier.send_reply(connector, ticket_id, ticket.version, message)
            store.record_done(name, ticket_id, episode, e.key, clock())
        elif e.key.startswith("task:"):
            task_id = proof.landed.get(e.key)
            if task_id is None:
                fields = {k: v for k, v in e.detail.items() if k not in BOOKKEEPING}
                due = fields.get("due_at")
                due_at = datetime.fromisoformat(due) if due else None
                task = TaskCreate(**{**fields, "due_at": due_at})
                found = None if e.key in proof.fresh else connector.find_task(task.external_id)
                task_id = found or connector.create_task(task)
            store.record_done(name, ticket_id, episode, e.key, clock(), {"task_id": task_id})
        elif e.key.startswith("notify:"):
            # announced with a write that landed, or marked `sending` when the process died
            # (then it may have gone out: sent again, at most once more, and the audit says so)
            notice = Notification.from_detail(e.key, e.detail)
            sending = bool(e.detail.get("sending"))
            applier.messages.send(name, ticket_id, episode, notice, None, maybe_sent=sending)


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
