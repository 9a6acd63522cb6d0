"""Targets by priority and by customer (RULES.md "Targets by priority and by customer").

A tier's `respond_within` / `resolve_within` are its defaults; `targets.<priority>` on the tier
refines them, and an SLA profile (chosen per ticket by `when`, first match wins) overrides both
with `targets.<tier>` and may count on its own calendar. Pure: no I/O, `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from esc_sync.model import TargetChoice, Ticket
from esc_sync.policy import schema
from esc_sync.policy.compile import Node


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """An SLA profile with its condition compiled (None: it matches every ticket)."""

    spec: schema.SlaProfile
    condition: Node | None

    @property
    def id(self) -> str:
        """The profile's id."""
        return self.spec.id

    def matches(self, ticket: Ticket, now: datetime) -> bool:
        """True when the ticket is this profile's (a test that cannot tell yet is no match)."""
        return self.condition is None or self.condition.test(ticket, now) is True


def profile_for(profiles: Sequence[CompiledProfile], ticket: Ticket, now: datetime) -> str | None:
    """The id of the first profile whose conditions hold on the ticket, or None."""
    return next((p.id for p in profiles if p.matches(ticket, now)), None)


def choose_target(
    tier: schema.Tier, profile: schema.SlaProfile | None, priority: str | None
) -> TargetChoice:
    """Each target, most specific first: the profile's for the tier, the tier's for the
    priority, the tier's default."""
    by_profile = profile.targets.get(tier.id) if profile is not None else None
    by_priority = tier.targets.get(priority) if priority is not None else None
    respond, respond_from = tier.respond_within, "tier"
    resolve, resolve_from = tier.resolve_within, "tier"
    if by_priority is not None and by_priority.respond_within:
        respond, respond_from = by_priority.respond_within, "priority"
    if by_priority is not None and by_priority.resolve_within:
        resolve, resolve_from = by_priority.resolve_within, "priority"
    if by_profile is not None and by_profile.respond_within:
        respond, respond_from = by_profile.respond_within, "profile"
    if by_profile is not None and by_profile.resolve_within:
        resolve, resolve_from = by_profile.resolve_within, "profile"
    calendar = profile.calendar if profile is not None and profile.calendar else tier.calendar
    return TargetChoice(
        tier=tier.id,
        profile=profile.id if profile is not None else None,
        priority=priority,
        respond_within=respond,
        resolve_within=resolve,
        respond_from=respond_from,
        resolve_from=resolve_from,
        calendar=calendar,
    )


def always_matches(when: schema.When) -> bool:
    """A profile without conditions matches every ticket."""
    return not any(items for _, items in when.sections())


def implies(later: schema.When, earlier: schema.When) -> bool:
    """True when every ticket `later` matches is sure to match `earlier` too (so a profile
    with `later`, written after one with `earlier`, can never be chosen). Sufficient, not
    complete: `earlier`'s all/none are among `later`'s, and `later`'s any among `earlier`'s."""
    if always_matches(earlier):
        return True
    mine, theirs = _canonical(later), _canonical(earlier)
    if not theirs["all"] <= mine["all"] or not theirs["none"] <= mine["none"]:
        return False
    if earlier.any_ is None:
        return True
    return later.any_ is not None and mine["any"] <= theirs["any"]


def _canonical(when: schema.When) -> Mapping[str, set[str]]:
    """Each section's conditions as comparable text."""
    out: dict[str, set[str]] = {"all": set(), "any": set(), "none": set()}
    for kind, items in when.sections():
        out[kind] = {_text(item.model_dump(by_alias=True, exclude_none=True)) for item in items}
    return out


def _text(value: Any) -> str:
    """A condition as stable text."""
    return repr(sorted(value.items())) if isinstance(value, dict) else repr(value)
