"""Gathering what the store knows about one ticket, read-only, for the planner.

The worker and `rules explain` both call these, so both plan from the same facts.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from esc_sync.model import COMMENT_FIELDS, Ticket
from esc_sync.plan.facts import Facts, History
from esc_sync.policy import Policy
from esc_sync.state.protocol import FactSource, Mirror

# A comment read this soon after the newest comment is not vouched for: another comment in
# the same second, or a helpdesk clock ahead of ours, could still be missing from it.
SETTLED = timedelta(seconds=61)


def vouch_comments(ticket: Ticket, now: datetime) -> Ticket:
    """The ticket, once its comments are read, marked as describing every comment up to its
    newest one (`comments_through`), so the mirror can stand in for the next read."""
    latest = ticket.latest_comment_at
    if not ticket.comments_loaded or latest is None or now - latest < SETTLED:
        return ticket
    return dataclasses.replace(ticket, comments_through=latest)


def with_mirrored_comments(store: Mirror, connector: str, ticket: Ticket) -> Ticket:
    """The ticket with its comment fields from the mirror when no comment came since they
    were read: the helpdesk's newest-comment time is no later than `comments_through`. The
    comments themselves are not kept, so the ticket stays not `comments_loaded` (markers are
    read only when the comments are)."""
    latest = ticket.latest_comment_at
    if ticket.comments_loaded or latest is None or not ticket.unknown & COMMENT_FIELDS:
        return ticket
    old = store.mirrored(connector, ticket.id)
    if (
        old is None
        or old.comments_through is None
        or latest > old.comments_through
        or old.unknown & COMMENT_FIELDS
    ):
        return ticket
    carried = {f: getattr(old, f) for f in COMMENT_FIELDS if f in ticket.unknown}
    return dataclasses.replace(
        ticket,
        **carried,
        last_agent_comment=old.last_agent_comment,
        comments_through=old.comments_through,
        unknown=ticket.unknown - COMMENT_FIELDS,
    )


def with_requester_history(store: Mirror, connector: str, ticket: Ticket, now: datetime) -> Ticket:
    """The ticket with its requester's recent ticket counts from the mirror."""
    rid = ticket.requester.id
    if rid is None:
        return ticket
    requester = dataclasses.replace(
        ticket.requester,
        tickets_30d=store.requester_tickets(connector, rid, now - timedelta(days=30)),
        tickets_90d=store.requester_tickets(connector, rid, now - timedelta(days=90)),
    )
    return dataclasses.replace(ticket, requester=requester)


def gather_facts(
    store: FactSource,
    policy: Policy,
    connector: str,
    ticket: Ticket,
    now: datetime,
    *,
    with_history: bool = True,
) -> Facts:
    """The ticket's episode, ledger, active tier entry, surge neighbours and (unless the
    caller adds it only once a briefing needs it) the requester's history."""
    episode = store.episode(connector, ticket.id)
    return Facts(
        episode=episode,
        ledger=store.ledger(connector, ticket.id, episode),
        entry=store.active_entry(connector, ticket.id),
        surge_times=surge_times(store, policy, connector, ticket, now),
        history=requester_history(store, connector, ticket) if with_history else History(),
    )


def with_reopens(store: Mirror, connector: str, ticket: Ticket) -> Ticket:
    """The ticket with its reopen count from the worker's own episodes, when the connector
    cannot count reopens (`count_reopens`): a reopen starts a new episode, so the count is
    the episodes seen less one, and at least what the connector knew (reopens before the
    worker's first sight of the ticket are not seen)."""
    if not ticket.count_reopens or "reopens" in ticket.unsupplied:
        return ticket
    counted = max(store.episode(connector, ticket.id) - 1, ticket.reopens or 0)
    return dataclasses.replace(ticket, reopens=counted, unknown=ticket.unknown - {"reopens"})


def requester_history(store: Mirror, connector: str, ticket: Ticket) -> History:
    """The requester's earlier tickets, for the briefing."""
    if ticket.requester.id is None:
        return History()
    return History(
        prior_tickets=max((ticket.requester.tickets_90d or 1) - 1, 0),
        recent_tickets=tuple(store.recent_tickets(connector, ticket.requester.id, ticket.id)),
    )


def surge_times(
    store: FactSource, policy: Policy, connector: str, ticket: Ticket, now: datetime
) -> dict[str, list[datetime]]:
    """Per surge rule this ticket counts for, the creation times of its neighbours and its own.

    A ticket counts when it is among the rule's recorded hits (the worker records hits as it
    reads) or matches the rule's other conditions now (`rules explain` records nothing).
    """
    if ticket.created_at is None:
        return {}
    windows = policy.surge_windows()
    if not windows:
        return {}
    candidates: set[str] | None = None  # worked out only for a ticket with no recorded hit
    times: dict[str, list[datetime]] = {}
    for rule_id, within in windows.items():
        start, end = ticket.created_at - within, ticket.created_at + within
        hits = store.surge_hits(connector, rule_id, start, end)
        if all(tid != ticket.id for tid, _ in hits):
            if candidates is None:
                candidates = set(policy.surge_candidates(ticket, now))
            if rule_id not in candidates:
                continue
        found = [at for tid, at in hits if tid != ticket.id] + [ticket.created_at]
        times[rule_id] = sorted(found)
    return times
