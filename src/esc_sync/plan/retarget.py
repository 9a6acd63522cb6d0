"""A ticket's SLA profile or priority changed while it sits in a tier: count its open deadlines
again from the tier entry, keep the time already spent paused, and say so in a short note.

Pure: the ledger keeps what each tier entry's deadlines were counted for (its profile and
priority, in the entry's intent detail and in each retarget's), so the planner can tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.model import (
    MARKER_PREFIX,
    Deadlines,
    LedgerEntry,
    Plan,
    Ticket,
    TicketUpdate,
    TierEntry,
    TierMove,
)
from esc_sync.plan.facts import Facts
from esc_sync.plan.ticket import TicketPlan
from esc_sync.plan.writes import iso
from esc_sync.policy import Policy

Basis = tuple[str | None, str | None]  # (SLA profile, priority) a tier entry was counted for

RETARGET = "retarget:"


def entry_basis(ledger: Mapping[str, LedgerEntry], entry: TierEntry) -> Basis | None:
    """What an active tier entry's deadlines were counted for: its latest retarget, else the
    intent that entered the tier; None when the ledger does not say (an adopted entry, or one
    made before targets had profiles), and then its deadlines stand."""
    latest: tuple[int, Basis] | None = None
    entered: Basis | None = None
    for key, e in ledger.items():
        if e.state != "done":
            continue
        if key.startswith(f"{RETARGET}{entry.tier}:"):
            n = int(key.rsplit(":", 1)[1])
            if latest is None or n > latest[0]:
                latest = (n, _basis(e.detail))
            continue
        enter = e.detail.get("enter")
        if isinstance(enter, dict) and enter.get("tier") == entry.tier and "profile" in enter:
            entered = _basis(enter)
    return latest[1] if latest is not None else entered


def _basis(detail: Mapping[str, Any]) -> Basis:
    """(profile, priority) from a ledger detail."""
    profile, priority = detail.get("profile"), detail.get("priority")
    return (str(profile) if profile else None, str(priority) if priority else None)


def ticket_basis(policy: Policy, ticket: Ticket, now: datetime) -> Basis:
    """The profile and priority a ticket has now."""
    return (policy.profile_for(ticket, now), ticket.priority)


def retarget_due(
    policy: Policy,
    ticket: Ticket,
    entry: TierEntry,
    ledger: Mapping[str, LedgerEntry],
    now: datetime,
) -> tuple[Basis, Basis] | None:
    """(old, new) when the ticket's profile or priority now gives its tier other targets."""
    old = entry_basis(ledger, entry)
    if old is None or entry.tier not in {tier.id for tier in policy.tiers}:
        return None
    new = ticket_basis(policy, ticket, now)
    if new == old:
        return None
    before, after = policy.target(entry.tier, *old), policy.target(entry.tier, *new)
    same = (before.respond_within, before.resolve_within, before.calendar) == (
        after.respond_within,
        after.resolve_within,
        after.calendar,
    )
    return None if same else (old, new)


def plan_retarget(
    policy: Policy, profile: ConnectorProfile, ticket: Ticket, facts: Facts, now: datetime
) -> TicketPlan | None:
    """The note and deadline fields of targets counted again, or None when they stand."""
    entry = facts.entry
    if entry is None or entry.episode != facts.episode:
        return None
    change = retarget_due(policy, ticket, entry, facts.ledger, now)
    if change is None:
        return None
    old, new = change
    # a pause still running is added when it ends (the entry keeps `paused_since`)
    dl = policy.retarget(entry.tier, entry.entered_at, entry.resolve_by, old, new, None, now)
    n = 1 + sum(1 for k in facts.ledger if k.startswith(f"{RETARGET}{entry.tier}:"))
    key = f"{RETARGET}{entry.tier}:{n}"
    mark = f"{MARKER_PREFIX}retarget-{n}:{entry.tier}:ep{entry.episode}"
    tplan = TicketPlan(
        ticket=ticket,
        episode=entry.episode,
        plan=Plan(ticket_id=ticket.id, episode=entry.episode),
        tier_from=entry.tier,
    )
    tplan.retarget = TierMove(entry.tier, entry.entered_at, dl.respond_by, dl.resolve_by)
    detail: dict[str, Any] = {
        "marker": mark,
        "profile": new[0],
        "priority": new[1],
        "was": {"profile": old[0], "priority": old[1]},
        "retarget": {
            "respond_by": dl.respond_by.isoformat(),
            "resolve_by": dl.resolve_by.isoformat(),
        },
        "target": dl.target.describe() if dl.target else None,
    }
    if ticket.comments_loaded and mark in ticket.markers():  # written, but the answer was lost
        tplan.adopt.append((key, {**detail, "adopted": True}))
        return tplan
    update = TicketUpdate(ticket_id=ticket.id, version=ticket.version)
    update.note = retarget_note(entry, old, new, dl, mark)
    fields = {"respond_by": iso(dl.respond_by), "resolve_by": iso(dl.resolve_by)}
    update.custom_fields = {k: v for k, v in fields.items() if k in profile.fields}
    tplan.plan.update = update
    tplan.plan.markers = [mark]
    tplan.intents = [(key, detail)]
    tplan.ladder = [
        {"step": "retarget", "tier": entry.tier, "target": detail["target"], "basis": list(new)}
    ]
    return tplan


def retarget_note(entry: TierEntry, old: Basis, new: Basis, dl: Deadlines, mark: str) -> str:
    """The short internal note: what changed, the targets now, the new deadlines."""
    what = []
    if old[0] != new[0]:
        what.append(f"SLA profile {old[0] or 'none'} -> {new[0] or 'none'}")
    if old[1] != new[1]:
        what.append(f"priority {old[1] or 'none'} -> {new[1] or 'none'}")
    target = dl.target.describe() if dl.target else entry.tier
    return "\n".join(
        [
            f"**Deadlines counted again** ({', '.join(what)}) for the time in {entry.tier} "
            f"since {iso(entry.entered_at)}.",
            "",
            f"- Target: {target}",
            f"- Respond by {iso(dl.respond_by)}, resolve by {iso(dl.resolve_by)}"
            " (time already spent paused is kept)",
            "",
            mark,
        ]
    )
