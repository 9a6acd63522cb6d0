"""The tier ladder: reminders before deadlines, and moving up when a tier misses one.

Pure: given a tier entry, what the ledger already holds and `now`, which steps are pending and
when each is due, and the plan for the steps that have come due (one update: a move up, or the
reminder notes). The applier writes it; the worker keeps the due index current.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from esc_sync.config import ConnectorProfile
from esc_sync.durations import format_duration, parse_duration
from esc_sync.model import (
    MARKER_PREFIX,
    Deadlines,
    Decision,
    Notification,
    Plan,
    Ticket,
    TicketUpdate,
    TierEntry,
    TierMove,
    notification_key,
)
from esc_sync.plan.facts import Facts, History
from esc_sync.plan.notices import message_context, notices, tier_channels
from esc_sync.plan.retarget import entry_basis, plan_retarget
from esc_sync.plan.ticket import TicketPlan
from esc_sync.plan.writes import entry_detail, iso, tasks_for
from esc_sync.policy import Policy

Deadline = Literal["response", "resolution"]


@dataclass(frozen=True, slots=True)
class LadderStep:
    """A reminder or a move up, due at `at`."""

    kind: Literal["remind", "missed", "repeat"]
    deadline: Deadline
    at: datetime
    key: str  # ledger key: once per level per episode
    marker: str
    deadline_at: datetime  # the deadline itself (a move is due at it)
    offset: str | None = None  # reminders: how long before the deadline
    to_tier: str | None = None  # moves: the next tier
    channel: str | None = None  # repeats: the channel told again
    repeat: int = 0  # repeats: which one (from 1)


def next_tier(policy: Policy, tier: str) -> str | None:
    """The tier above, unless this one is the ladder's top (or the last)."""
    rank = policy.tier_rank(tier)
    top = policy.tier_rank(policy.ladder.top) if policy.ladder.top else len(policy.tiers) - 1
    if rank < 0 or rank >= top or rank + 1 >= len(policy.tiers):
        return None
    return policy.tiers[rank + 1].id


def pending_steps(
    policy: Policy, entry: TierEntry, done: set[str], sla: str | None = None
) -> list[LadderStep]:
    """Every ladder step of an active tier entry not done yet, earliest first (`sla`: the SLA
    profile its deadlines count for, whose calendar the reminders count on)."""
    steps: list[LadderStep] = []
    ep = f"ep{entry.episode}"
    deadlines: list[tuple[Deadline, datetime]] = [
        ("response", entry.respond_by),
        ("resolution", entry.resolve_by),
    ]
    for deadline, due in deadlines:
        if deadline == "response" and entry.responded_at is not None:
            continue
        if deadline == "resolution" and entry.paused_since is not None:
            continue  # the clock is stopped while the ticket waits on the customer
        for offset in policy.ladder.remind_before:
            key = f"remind:{entry.tier}:{deadline}:{offset}"
            if key in done:
                continue
            # A reminder due at (or before) the tier entry would arrive with the briefing and
            # tell nobody anything; its moment is counted as the deadline is.
            at = policy.reminder_at(entry.tier, entry.entered_at, due, offset, sla)
            if at is not None:
                marker = f"{MARKER_PREFIX}remind-{deadline}-{offset}:{entry.tier}:{ep}"
                steps.append(LadderStep("remind", deadline, at, key, marker, due, offset=offset))
        choice = (
            policy.ladder.on_missed_response
            if deadline == "response"
            else policy.ladder.on_missed_resolution
        )
        upper = next_tier(policy, entry.tier) if choice == "next" else None
        key = f"ladder:{entry.tier}:{deadline}"
        if upper is not None and key not in done:
            marker = f"{MARKER_PREFIX}missed-{deadline}:{upper}:{ep}"
            steps.append(LadderStep("missed", deadline, due, key, marker, due, to_tier=upper))
    if entry.responded_at is None:
        steps += repeat_steps(policy, entry, done)
    return sorted(steps, key=lambda s: (s.at, s.kind != "missed"))


def repeat_steps(policy: Policy, entry: TierEntry, done: set[str]) -> list[LadderStep]:
    """The repeats not sent yet of each tier channel with `repeat_every` (calendar time from
    the tier entry, up to `repeat_max`); the first one pending feeds the due index."""
    steps: list[LadderStep] = []
    for channel_id in tier_channels(policy, entry.tier):
        channel = policy.channels.get(channel_id)
        if channel is None or channel.repeat_every is None:
            continue
        every = parse_duration(channel.repeat_every)
        for n in range(1, channel.repeat_max + 1):
            key = notification_key(entry.tier, channel_id, "repeat", n)
            if key not in done:
                at = entry.entered_at + every * n
                step = LadderStep("repeat", "response", at, key, "", entry.respond_by)
                steps.append(dataclasses.replace(step, channel=channel_id, repeat=n))
    return steps


def reminder_note(
    policy: Policy,
    entry: TierEntry,
    steps: list[LadderStep],
    now: datetime,
    sla: str | None = None,
) -> str:
    """The internal note for reminders that have come due."""
    tier = policy.tier(entry.tier)
    lines = [f"**Reminder from esc-sync** ({tier.name}, {tier.id})", ""]
    for step in steps:
        due = step.deadline_at
        wall = max(due - now, timedelta(0))
        business = policy.time_left(entry.tier, now, due, sla)
        left = f"{format_duration(business)} left"
        if business != wall:
            left = f"{format_duration(business)} of business hours left"
            left += f" ({format_duration(wall)} from now)"
        lines.append(f"- The {step.deadline} deadline is {iso(due)}: {left}.")
    lines += ["", " ".join(s.marker for s in steps)]
    return "\n".join(lines)


def missed_note(
    policy: Policy,
    entry: TierEntry,
    step: LadderStep,
    respond_by: datetime,
    resolve_by: datetime,
    now: datetime,
) -> str:
    """The short briefing for a move up after a missed deadline."""
    old, new = policy.tier(entry.tier), policy.tier(step.to_tier or entry.tier)
    due = entry.respond_by if step.deadline == "response" else entry.resolve_by
    late = format_duration(max(now - due, timedelta(0)))
    return "\n".join(
        [
            f"**Escalated to {new.name} ({new.id})**: {old.name} ({old.id}) missed the "
            f"{step.deadline} deadline of {iso(due)} by {late}.",
            "",
            f"- Escalated to {old.id} at {iso(entry.entered_at)}",
            f"- {new.name}: respond by {iso(respond_by)}, resolve by {iso(resolve_by)}",
            "- The earlier briefing note on this ticket has the full history.",
            "",
            step.marker,
        ]
    )


def plan_ladder(
    policy: Policy,
    profile: ConnectorProfile,
    connector: str,
    ticket: Ticket,
    facts: Facts,
    now: datetime,
) -> TicketPlan | None:
    """The ladder steps of the active tier entry that have come due, as one plan: a move up
    (reminders then moot) or the reminder notes. None when nothing is due."""
    entry = facts.entry
    if entry is None or entry.episode != facts.episode:
        return None  # an entry of an earlier episode (a reopen the worker did not see) is over
    retarget = plan_retarget(policy, profile, ticket, facts, now)
    if retarget is not None:
        return retarget  # the ladder steps follow on the new deadlines
    sla = entry_sla(facts, entry)
    due = [s for s in pending_steps(policy, entry, facts.done(), sla) if s.at <= now]
    if not due:
        return None
    repeats = [s for s in due if s.kind == "repeat"]
    due = [s for s in due if s.kind != "repeat"]
    tplan = TicketPlan(
        ticket=ticket,
        episode=entry.episode,
        plan=Plan(ticket_id=ticket.id, episode=entry.episode),
        tier_from=entry.tier,
    )
    landed = ticket.markers() if ticket.comments_loaded else set()
    for step in [s for s in due if s.marker in landed]:  # written, but the answer was lost
        tplan.adopt.append((step.key, {"marker": step.marker, "adopted": True}))
        if step.to_tier is not None and tplan.adopt_entry is None:
            dl = policy.ticket_deadlines(ticket, step.to_tier, now)
            tplan.adopt_entry = TierMove(step.to_tier, now, dl.respond_by, dl.resolve_by)
    due = [s for s in due if s.marker not in landed]
    moot = _moot_reminders(due, now, moved=tplan.adopt_entry is not None)
    tplan.adopt += [(s.key, why) for s, why in moot.items()]
    due = [s for s in due if s not in moot]
    if due:
        tplan.ladder = [_step_record(s, entry) for s in due]
        _plan_steps(tplan, policy, profile, connector, entry, due, facts.done(), now, sla)
        tplan.notifications = _step_notices(policy, profile, ticket, entry, due, facts, now)
    moved = tplan.enter is not None or tplan.adopt_entry is not None
    _plan_repeats(tplan, policy, profile, entry, repeats, moved, now)
    return tplan


def _plan_repeats(
    tplan: TicketPlan,
    policy: Policy,
    profile: ConnectorProfile,
    entry: TierEntry,
    repeats: list[LadderStep],
    moved: bool,
    now: datetime,
) -> None:
    """The latest due repeat of each channel; earlier ones (a worker that was down) and those
    of a ticket moving up are recorded as moot."""
    latest: dict[str, LadderStep] = {}
    for step in repeats:
        if moved:
            tplan.adopt.append((step.key, {"moot": "the ticket moved up"}))
            continue
        kept = latest.get(str(step.channel))
        if kept is not None:
            older, step = sorted((kept, step), key=lambda s: s.repeat)
            tplan.adopt.append((older.key, {"moot": f"superseded by repeat {step.repeat}"}))
        latest[str(step.channel)] = step
    if not latest:
        return
    context = _ladder_context(policy, profile, tplan.ticket, entry, None, now)
    for step in latest.values():
        tplan.notifications += notices(
            policy,
            [str(step.channel)],
            context,
            event="repeat",
            tier=entry.tier,
            step="repeat",
            done=(),
            repeat=step.repeat,
        )
    tplan.ladder = (tplan.ladder or []) + [_step_record(s, entry) for s in latest.values()]


def _ladder_context(
    policy: Policy,
    profile: ConnectorProfile,
    ticket: Ticket,
    entry: TierEntry,
    to_tier: TierMove | None,
    now: datetime,
) -> dict[str, Any]:
    """The message context of a ladder event: the tier (or the one moved to), its deadlines."""
    if to_tier is None:
        deadlines = Deadlines(entry.respond_by, entry.resolve_by)
        decision = Decision(ticket.id, now, current_tier=entry.tier, deadlines=deadlines)
    else:
        deadlines = Deadlines(to_tier.respond_by, to_tier.resolve_by)
        decision = Decision(
            ticket.id, now, current_tier=entry.tier, target_tier=to_tier.tier, deadlines=deadlines
        )
    return message_context(policy, profile, ticket, decision, History(), [])


def _step_notices(
    policy: Policy,
    profile: ConnectorProfile,
    ticket: Ticket,
    entry: TierEntry,
    due: list[LadderStep],
    facts: Facts,
    now: datetime,
) -> list[Notification]:
    """Reminders and a missed deadline tell the tier's channels; the tier moved to hears
    `escalated`."""
    done, tier = facts.done(), entry.tier
    here = _ladder_context(policy, profile, ticket, entry, None, now)
    out: list[Notification] = []
    for step in due:
        if step.kind == "remind":
            name = f"reminder-{step.deadline}-{step.offset}"
            out += notices(
                policy,
                tier_channels(policy, tier),
                here,
                event="reminder",
                tier=tier,
                step=name,
                done=done,
            )
        elif step.kind == "missed" and step.to_tier is not None:
            name = f"missed-{step.deadline}"
            out += notices(
                policy,
                tier_channels(policy, tier),
                here,
                event="missed",
                tier=tier,
                step=name,
                done=done,
            )
            dl = policy.ticket_deadlines(ticket, step.to_tier, now)
            move = TierMove(step.to_tier, now, dl.respond_by, dl.resolve_by)
            there = _ladder_context(policy, profile, ticket, entry, move, now)
            out += notices(
                policy,
                tier_channels(policy, step.to_tier),
                there,
                event="escalated",
                tier=step.to_tier,
                step="escalated",
                done=done,
            )
    return out


def entry_sla(facts: Facts, entry: TierEntry) -> str | None:
    """The SLA profile an entry's deadlines count for, as the ledger keeps it."""
    basis = entry_basis(facts.ledger, entry)
    return basis[0] if basis is not None else None


def _moot_reminders(
    due: list[LadderStep], now: datetime, moved: bool
) -> dict[LadderStep, dict[str, str]]:
    """Due reminders that would say nothing, with the reason the ledger keeps: a move up is
    due with them (or already made), or their deadline has passed (a worker that was down)."""
    move = next((s for s in due if s.kind == "missed"), None)
    moot: dict[LadderStep, dict[str, str]] = {}
    for step in due:
        if step.kind != "remind":
            continue
        if move is not None:
            moot[step] = {"superseded_by": move.key}
        elif moved:
            moot[step] = {"moot": "the ticket moved up"}
        elif step.deadline_at <= now:
            moot[step] = {"moot": "deadline passed"}
    return moot


def _step_record(step: LadderStep, entry: TierEntry) -> dict[str, Any]:
    """A ladder step as the audit line shows it."""
    record: dict[str, Any] = {
        "step": step.kind,
        "deadline": step.deadline,
        "tier": entry.tier,
        "to": step.to_tier,
        "offset": step.offset,
    }
    if step.kind == "repeat":
        record.update(channel=step.channel, repeat=step.repeat)
    return record


def _plan_steps(
    tplan: TicketPlan,
    policy: Policy,
    profile: ConnectorProfile,
    connector: str,
    entry: TierEntry,
    due: list[LadderStep],
    done: set[str],
    now: datetime,
    sla: str | None = None,
) -> None:
    """One update for the due steps: a move up, or the reminder notes."""
    ticket, plan = tplan.ticket, tplan.plan
    update = TicketUpdate(ticket_id=ticket.id, version=ticket.version)
    plan.update = update
    move = next((s for s in due if s.kind == "missed"), None)
    if move is None:
        update.note = reminder_note(policy, entry, due, now, sla)
        plan.markers = [s.marker for s in due]
        tplan.intents = [(s.key, {"marker": s.marker}) for s in due]
        return
    target = move.to_tier or entry.tier
    deadlines = policy.ticket_deadlines(ticket, target, now)
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
    update.note = missed_note(policy, entry, move, deadlines.respond_by, deadlines.resolve_by, now)
    plan.markers = [move.marker]
    playbook = policy.tier(target).playbook
    specs = policy.escalation_tasks([playbook], now, target) if playbook else []
    why = f"moved to {policy.tier(target).name}"
    plan.tasks = tasks_for(connector, profile, ticket, entry.episode, target, specs, done, why)
    detail = {
        "marker": move.marker,
        "tier": target,
        "playbooks": [playbook] if playbook else [],
        "enter": entry_detail(target, now, deadlines),
    }
    tplan.intents = [(move.key, detail)]
    tplan.enter = TierMove(target, now, deadlines.respond_by, deadlines.resolve_by)
