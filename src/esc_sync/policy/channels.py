"""Notification channels as the policy declares them: the checks `rules check` runs.

A channel names the environment variable holding its Apprise URL (never the URL itself), the
template its messages are rendered from, and how often to repeat while a tier has not
responded. Tiers (`notify = [...]`) and rules (`then.notify = [...]`) refer to channels by id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from esc_sync.policy import schema
from esc_sync.policy.compile import suggest
from esc_sync.policy.templates import SUFFIX, Templates


def channels_used(
    tiers: Iterable[tuple[schema.Tier, str]],
    rules: Iterable[tuple[schema.Rule, str]],
    broken_rules: Iterable[tuple[Any, str, str]],
) -> set[str]:
    """Every channel id some tier or rule (valid or not) notifies."""
    used = {c for tier, _ in tiers for c in tier.notify}
    used |= {c for rule, _ in rules for c in rule.then.notify}
    return used | {c for raw, _, _ in broken_rules for c in notified_in(raw)}


def notified_in(raw_rule: Any) -> list[str]:
    """The channel ids a rule that failed validation still names in `then.notify`."""
    then = raw_rule.get("then") if isinstance(raw_rule, dict) else None
    notify = then.get("notify") if isinstance(then, dict) else None
    return [c for c in notify if isinstance(c, str)] if isinstance(notify, list) else []


def channel_problems(
    channels: Mapping[str, tuple[schema.Channel, str]],
    used: Collection[str],
    names: list[str],
    templates: Templates,
) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """Warnings (a channel nobody notifies) and problems (file, item, field, message: a
    channel whose template does not exist)."""
    warnings: list[str] = []
    problems: list[tuple[str, str, str, str]] = []
    for channel_id, (channel, file) in channels.items():
        item = f'channel "{channel_id}"'
        template = channel.template.removesuffix(SUFFIX)
        if template not in names:
            where = templates.folder / ("*" + SUFFIX)
            hint = suggest(template, names)
            message = f'unknown template "{template}"{hint}; templates are {where}'
            problems.append((file, item, "template", message))
        if channel_id not in used:
            warnings.append(
                f"{file}: {item}: unused channel: no tier or rule notifies it (add it to a "
                "tier's notify = [...] or a rule's then.notify, or remove it)"
            )
    return warnings, problems
