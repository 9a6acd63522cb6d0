"""Checks of policy items against the rest of the policy: playbook steps, tier targets by
priority, SLA profiles (their conditions, calendar, targets by tier, and profiles an earlier
one always shadows).

Each problem is reported through `add(file, item, path, message)`, as the loader words it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from esc_sync.model import PRIORITIES
from esc_sync.policy import schema
from esc_sync.policy.compile import Compiler, suggest
from esc_sync.policy.sla import CompiledProfile, always_matches, implies

Add = Callable[[str, str | None, str, str], None]


def unknown(noun: str, value: str, known: Collection[str]) -> str:
    """`unknown tier "t9" (did you mean ...); use: t1, t2` for a reference to nothing."""
    choices = ", ".join(known) or "none defined"
    return f'unknown {noun} "{value}"{suggest(value, list(known))}; use: {choices}'


def check_steps(playbook: schema.Playbook, file: str, item: str, add: Add) -> None:
    """A first step cannot follow "previous"; steps after a resolved one stay after resolution."""
    resolved = False
    for i, step in enumerate(playbook.steps):
        if i == 0 and step.after == "previous":
            add(
                file,
                item,
                "steps[0].after",
                'the first step has no previous step: anchor it on "escalated" or "resolved"',
            )
        if resolved and step.after == "escalated":
            add(
                file,
                item,
                f"steps[{i}].after",
                'a step after a "resolved" step cannot be anchored on "escalated"',
            )
        resolved = resolved or step.after == "resolved"


def check_tier_targets(tier: schema.Tier, file: str, add: Add) -> None:
    """`targets.<priority>` names a priority, and sets at least one target."""
    item = f'tier "{tier.id}"'
    for key, target in tier.targets.items():
        if key not in PRIORITIES:
            add(file, item, f"targets.{key}", unknown("priority", key, PRIORITIES))
        elif target.respond_within is None and target.resolve_within is None:
            add(file, item, f"targets.{key}", "empty: set respond_within or resolve_within")


def compile_profiles(
    profiles: Iterable[tuple[schema.SlaProfile, str]],
    tier_ids: Collection[str],
    calendar_ids: Collection[str],
    compiler: Compiler,
    add: Add,
) -> list[CompiledProfile]:
    """Check and compile the SLA profiles in the order written (first match wins)."""
    compiled: list[CompiledProfile] = []
    earlier: list[tuple[schema.SlaProfile, str]] = []
    for profile, file in profiles:
        item = f'sla_profile "{profile.id}"'
        if profile.calendar is not None and profile.calendar not in calendar_ids:
            add(file, item, "calendar", unknown("calendar", profile.calendar, calendar_ids))
        for key, target in profile.targets.items():
            if key not in tier_ids:
                add(file, item, f"targets.{key}", unknown("tier", key, tier_ids))
            elif target.respond_within is None and target.resolve_within is None:
                add(file, item, f"targets.{key}", "empty: set respond_within or resolve_within")
        shadow = next((p for p in earlier if implies(profile.when, p[0].when)), None)
        if shadow is not None:
            every = "every ticket" if always_matches(shadow[0].when) else "every ticket this does"
            add(
                file,
                item,
                "when",
                f'can never match: the earlier profile "{shadow[0].id}" ({shadow[1]}) matches '
                f"{every}, and the first match wins (move this one above it, or narrow that one)",
            )
        earlier.append((profile, file))
        compiler.problems = []
        node = None if always_matches(profile.when) else compiler.when(profile.when)
        for path, message in compiler.problems:
            add(file, item, path, message)
        if not compiler.problems:
            compiled.append(CompiledProfile(profile, node))
    return compiled
