"""What each connector can tell rules: the fields it cannot supply, and the ones it supplies
only at extra requests. Rules of the house: a field a connector cannot supply is unknown to the
engine (never an empty list or "none"), and `rules explain` says why; `rules check --config`
lists both kinds for the fields the policy reads.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from esc_sync.config import ConnectorProfile
from esc_sync.model import COMMENT_FIELDS

_COMMENT_TEXT = frozenset({"latest_customer_comment", "customer_comments"})
_REPLY_COUNTS = frozenset({"agent_replies", "customer_replies"})


@dataclass(frozen=True, slots=True)
class Supply:
    """One connector's account of the rule fields: why some are unknown, what some cost."""

    unsupplied: dict[str, str] = field(default_factory=dict)  # field -> why it is unknown
    extra: dict[str, str] = field(default_factory=dict)  # field -> the requests it costs

    def report(self, used: Collection[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The unsupplied and extra-cost fields among `used` (sorted by name)."""
        return (
            {f: self.unsupplied[f] for f in sorted(used) if f in self.unsupplied},
            {f: self.extra[f] for f in sorted(used) if f in self.extra},
        )


def unsupplied_fields(profile: ConnectorProfile) -> dict[str, str]:
    """The fields a profile's connector cannot supply, with why (what normalisers mark)."""
    return supply_of(profile).unsupplied


def supply_of(profile: ConnectorProfile) -> Supply:
    """The supply table of a profile's helpdesk type (profile mappings taken into account)."""
    if profile.type == "zendesk":
        per_ticket = (
            "GET /api/v2/tickets/{id}/comments per ticket when the comment export misses it"
        )
        return Supply(
            extra={
                **{f: f"comment export in bulk; {per_ticket}" for f in _COMMENT_TEXT},
            }
        )
    if profile.type == "freshdesk":
        conversations = (
            "GET /api/v2/tickets/{id}/conversations per ticket (only when a rule still "
            "undecided reads it)"
        )
        return Supply(
            extra={
                **{f: conversations for f in _COMMENT_TEXT | _REPLY_COUNTS},
                "requester.tags": "GET /api/v2/contacts/{id} once per requester not yet "
                "cached (then the contacts listing, one paged request per cycle)",
            }
        )
    if profile.type == "rt":
        history = "POST /transactions + POST /attachments per ticket (the ticket's history)"
        unsupplied = {
            "requester.tags": "RT keeps no tags on users: the requester's customer-tags "
            "field is read as organization.tags",
        }
        if "satisfaction" not in profile.fields:
            unsupplied["satisfaction"] = (
                "RT has no satisfaction surveys: map a ticket custom field as [fields] satisfaction"
            )
        return Supply(
            unsupplied=unsupplied,
            extra={f: history for f in sorted(COMMENT_FIELDS | {"description", "reopens"})},
        )
    return Supply()
