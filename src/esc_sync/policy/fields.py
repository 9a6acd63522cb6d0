"""The fields rules can read (RULES.md "Fields"), each with a type and an accessor on `Ticket`.

The type decides which operators a rule may apply and how values compare:

- text: eq, ne, in, not_in, contains (substring, any case), matches, exists
- enum: eq, ne, in, not_in, exists; ordered enums (priority, tier) also gt, gte, lt, lte
- number: eq, ne, in, not_in, gt, gte, lt, lte, exists
- datetime: gt, gte, lt, lte (ISO-8601 values), older_than, newer_than, exists
- text-list: contains (membership, any case), matches (any element), exists
- bool: eq, ne, exists
- any (custom fields, group, assignee): every operator, numbers compared as numbers
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from esc_sync.model import PRIORITIES, SATISFACTION, STATUSES, Ticket

FieldType = Literal["text", "enum", "number", "datetime", "text-list", "bool", "any"]

OPS_BY_TYPE: dict[str, frozenset[str]] = {
    "text": frozenset({"eq", "ne", "in", "not_in", "contains", "matches", "exists"}),
    "enum": frozenset({"eq", "ne", "in", "not_in", "exists"}),
    "number": frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"}),
    "datetime": frozenset({"gt", "gte", "lt", "lte", "older_than", "newer_than", "exists"}),
    "text-list": frozenset({"contains", "matches", "exists"}),
    "bool": frozenset({"eq", "ne", "exists"}),
    "any": frozenset(
        {"eq", "ne", "in", "not_in", "contains", "matches", "gt", "gte", "lt", "lte", "exists"}
        | {"older_than", "newer_than"}
    ),
}
ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
CUSTOM_PREFIX = "custom."


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A rule field: its name, type, vocabulary (enums) and how to read it from a ticket."""

    name: str
    type: FieldType
    get: Callable[[Ticket], Any]
    values: tuple[str, ...] = ()  # enum vocabulary; the tier field takes the policy's tier ids
    ordered: bool = False  # enum values are in rank order, so gt/gte/lt/lte apply

    def operators(self) -> frozenset[str]:
        """The operators a rule may apply to this field."""
        ops = OPS_BY_TYPE[self.type]
        return ops | ORDER_OPS if self.ordered else ops

    def unknown_keys(self) -> tuple[str, ...]:
        """Names in `Ticket.unknown` that make this field unknown (itself, or its parent)."""
        parent = self.name.split(".", 1)[0]
        return (self.name, parent) if parent != self.name else (self.name,)


def _attr(name: str) -> Callable[[Ticket], Any]:
    """An accessor for a plain ticket attribute."""
    return lambda ticket: getattr(ticket, name)


def _define(name: str, type_: FieldType, get: Callable[[Ticket], Any] | None = None) -> FieldDef:
    """A field read straight from the ticket attribute of the same name."""
    return FieldDef(name, type_, get or _attr(name))


FIELDS: dict[str, FieldDef] = {
    f.name: f
    for f in (
        _define("id", "number"),
        _define("subject", "text"),
        _define("description", "text"),
        FieldDef("status", "enum", _attr("status"), STATUSES),
        FieldDef("priority", "enum", _attr("priority"), PRIORITIES, ordered=True),
        _define("type", "text"),
        _define("channel", "text"),
        _define("tags", "text-list"),
        _define("group", "any"),
        _define("assignee", "any"),
        FieldDef("tier", "enum", _attr("tier"), (), ordered=True),
        _define("created_at", "datetime"),
        _define("updated_at", "datetime"),
        _define("first_agent_reply_at", "datetime"),
        _define("last_customer_reply_at", "datetime"),
        _define("last_agent_reply_at", "datetime"),
        _define("agent_replies", "number"),
        _define("customer_replies", "number"),
        _define("reopens", "number"),
        _define("latest_customer_comment", "text"),
        _define("customer_comments", "text"),
        _define("requester.email", "text", lambda t: t.requester.email),
        _define("requester.tags", "text-list", lambda t: t.requester.tags),
        _define("requester.tickets_30d", "number", lambda t: t.requester.tickets_30d),
        _define("requester.tickets_90d", "number", lambda t: t.requester.tickets_90d),
        _define("organization.name", "text", lambda t: t.organization.name),
        _define("organization.tags", "text-list", lambda t: t.organization.tags),
        FieldDef("satisfaction", "enum", _attr("satisfaction"), SATISFACTION),
    )
}


def custom_field(name: str) -> FieldDef:
    """The definition of `custom.<name>`: any type, read from `ticket.custom`."""
    return FieldDef(CUSTOM_PREFIX + name, "any", lambda ticket: ticket.custom.get(name))


def field_names(custom_fields: Collection[str] | None) -> list[str]:
    """Every field name a rule may use (for did-you-mean suggestions)."""
    custom = [CUSTOM_PREFIX + name for name in custom_fields or ()]
    return [*FIELDS, *custom]


def lookup(name: str, custom_fields: Collection[str] | None = None) -> FieldDef | None:
    """The field called `name`, or None; `custom.<name>` must be in `custom_fields` if given."""
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        short = name[len(CUSTOM_PREFIX) :]
        if custom_fields is None or short in custom_fields:
            return custom_field(short)
    return None
