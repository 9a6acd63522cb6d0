"""A ticket as JSON for the mirror, so the clock can evaluate it without an API call."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from esc_sync.model import Organization, Person, Ticket

_TIMES = (
    "created_at",
    "updated_at",
    "first_agent_reply_at",
    "last_customer_reply_at",
    "last_agent_reply_at",
    "latest_comment_at",
    "comments_through",
)
_SKIP = ("comments", "comments_loaded")


def dump_ticket(ticket: Ticket) -> str:
    """The ticket's rule fields as JSON (comments themselves are not kept)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(ticket):
        if f.name in _SKIP:
            continue
        value = getattr(ticket, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, (Person, Organization)):
            value = dataclasses.asdict(value)
        elif isinstance(value, (tuple, frozenset)):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        data[f.name] = value
    return json.dumps(data, default=str)


def load_ticket(text: str) -> Ticket:
    """A ticket back from its mirror JSON."""
    data: dict[str, Any] = json.loads(text)
    for name in _TIMES:
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    data["tags"] = tuple(data.get("tags") or ())
    data["unknown"] = frozenset(data.get("unknown") or ())
    requester = data.get("requester") or {}
    requester["tags"] = tuple(requester.get("tags") or ())
    data["requester"] = Person(**requester)
    organization = data.get("organization") or {}
    organization["tags"] = tuple(organization.get("tags") or ())
    data["organization"] = Organization(**organization)
    known = {f.name for f in dataclasses.fields(Ticket)}
    return Ticket(**{k: v for k, v in data.items() if k in known})
