"""The tier ladder: reminders before deadlines, and moving up when a tier misses one.

Pure: given a tier entry, what the ledger already holds and `now`, which steps are pending and
when each is due. The worker turns due steps into writes and keeps the due index current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from esc_sync.durations import format_duration
from esc_sync.model import MARKER_PREFIX
from esc_sync.policy import Policy
from esc_sync.state.sqlite import TierEntry
from esc_sync.worker.planner import iso

Deadline = Literal["response", "resolution"]


@dataclass(frozen=True, slots=True)
class LadderStep:
    """A reminder or a move up, due at `at`."""

    kind: Literal["remind", "missed"]
    deadline: Deadline
    at: datetime
    key: str  # ledger key: once per level per episode
    marker: str
    deadline_at: datetime  # the deadline itself (a move is due at it)
    offset: str | None = None  # reminders: how long before the deadline
    to_tier: str | None = None  # moves: the next tier


def next_tier(policy: Policy, tier: str) -> str | None:
    """The tier above, unless this one is the ladder's top (or the last)."""
    rank = policy.tier_rank(tier)
    top = policy.tier_rank(policy.ladder.top) if policy.ladder.top else len(policy.tiers) - 1
    if rank < 0 or rank >= top or rank + 1 >= len(policy.tiers):
        return None
    return policy.tiers[rank + 1].id


def pending_steps(policy: Policy, entry: TierEntry, done: set[str]) -> list[LadderStep]:
    """Every ladder step of an active tier entry not done yet, earliest first."""
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
            at = policy.reminder_at(entry.tier, entry.entered_at, due, offset)
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
    return sorted(steps, key=lambda s: (s.at, s.kind != "missed"))


def reminder_note(policy: Policy, entry: TierEntry, steps: list[LadderStep], now: datetime) -> str:
    """The internal note for reminders that have come due."""
    tier = policy.tier(entry.tier)
    lines = [f"**Reminder from esc-sync** ({tier.name}, {tier.id})", ""]
    for step in steps:
        due = step.deadline_at
        wall = max(due - now, timedelta(0))
        business = policy.time_left(entry.tier, now, due)
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
