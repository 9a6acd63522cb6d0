"""Notifications as data: which channels hear of an event, with the message and its ledger key.

Pure, like the rest of the planner. A ticket entering a tier (by a rule or the ladder) tells
the tier's channels and the channels of every rule that fired (`escalated`); a reminder or a
missed deadline tells the tier's channels (`reminder`, `missed`); while the tier has not
responded, channels with `repeat_every` are told again (`repeat`, up to `repeat_max`). Each
channel hears once per event: its key is in the ledger once sent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.model import MARKER_PREFIX, Decision, Notification, Ticket, notification_key
from esc_sync.plan.facts import History
from esc_sync.plan.writes import template_context
from esc_sync.policy import Policy


def tier_channels(policy: Policy, tier_id: str | None) -> list[str]:
    """The channels a tier notifies (none for an unknown tier)."""
    if tier_id is None:
        return []
    try:
        return list(policy.tier(tier_id).notify)
    except KeyError:
        return []


def message_context(
    policy: Policy,
    profile: ConnectorProfile,
    ticket: Ticket,
    decision: Decision,
    history: History,
    markers: list[str],
) -> dict[str, Any]:
    """The briefing's template context plus the agent's link to the ticket."""
    context = template_context(ticket, decision, policy, history, markers)
    context["ticket"]["url"] = profile.ticket_url(ticket.id)
    return context


def notices(
    policy: Policy,
    channels: Iterable[str],
    context: dict[str, Any],
    *,
    event: str,
    tier: str,
    step: str,
    done: Collection[str],
    repeat: int = 0,
) -> list[Notification]:
    """One message per channel (each once, in order) whose key is not done yet."""
    out: list[Notification] = []
    for channel_id in dict.fromkeys(channels):
        key = notification_key(tier, channel_id, step, repeat)
        channel = policy.channels.get(channel_id)
        if key in done or channel is None:
            continue
        text = policy.render(channel.template, {**context, "event": event, "repeat": repeat})
        title, _, body = text.strip().partition("\n")
        out.append(
            Notification(
                key=key,
                channel=channel_id,
                url_env=channel.url_env,
                event=event,
                tier=tier,
                repeat=repeat,
                title=title.strip(),
                body=body.strip(),
            )
        )
    return out


def escalation_notices(
    policy: Policy,
    profile: ConnectorProfile,
    ticket: Ticket,
    decision: Decision,
    markers: list[str],
    history: History,
    done: Collection[str],
) -> list[Notification]:
    """`escalated` for the rules a plan fires: the target tier's channels and the rules'."""
    fired = [m[len(MARKER_PREFIX) :].split(":")[0] for m in markers]
    if not fired:
        return []
    channels = tier_channels(policy, decision.target_tier)
    for rule_id in fired:
        try:
            channels += policy.rule(rule_id).then.notify
        except KeyError:
            continue
    if not channels:
        return []
    tier = decision.target_tier or decision.current_tier or "none"
    context = message_context(policy, profile, ticket, decision, history, markers)
    return notices(
        policy, channels, context, event="escalated", tier=tier, step="escalated", done=done
    )
