"""Zendesk payloads to and from the shared model. Pure functions: no I/O, no clock.

Shapes follow the Support API v2: tickets with `custom_fields` [{id, value}], side-loaded
`users`, `organizations` and `metric_sets` (one per ticket, keyed by `ticket_id`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import derive_comment_fields
from esc_sync.connectors.payload import MalformedRecord as MalformedRecord
from esc_sync.connectors.payload import field_value as _field_value
from esc_sync.connectors.payload import format_time as format_time
from esc_sync.connectors.payload import id_value as _id_value
from esc_sync.connectors.payload import is_int as _is_int
from esc_sync.connectors.payload import opt_int as _opt_int
from esc_sync.connectors.payload import parse_time as parse_time
from esc_sync.errors import HelpdeskError
from esc_sync.model import (
    COMMENT_FIELDS,
    MARKER_PREFIX,
    PRIORITIES,
    STATUSES,
    Comment,
    Organization,
    Person,
    TaskCreate,
    Ticket,
    TicketUpdate,
)

INCLUDE = "users,organizations,metric_sets"
METRIC_FIELDS = frozenset({"agent_replies", "first_agent_reply_at"})
STATUS_IN = {"hold": "on_hold"}
STATUS_OUT = {"on_hold": "hold"}
AGENT_ROLES = frozenset({"agent", "admin"})
_T = TypeVar("_T")


@dataclass(slots=True)
class SideLoads:
    """The side-loaded users, organizations and metric sets of one response, by id."""

    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SideLoads:
        """Index the side-loads of a response body (missing or odd entries are ignored)."""
        return cls(
            users=_index(body.get("users"), "id"),
            organizations=_index(body.get("organizations"), "id"),
            metrics=_index(body.get("metric_sets"), "ticket_id"),
        )


def _index(items: Any, key: str) -> dict[int, dict[str, Any]]:
    """Dicts in a list keyed by an integer field."""
    if not isinstance(items, list):
        return {}
    return {i[key]: i for i in items if isinstance(i, dict) and _is_int(i.get(key))}


def ticket_id_of(raw: Any) -> int | None:
    """The id of a raw ticket record, if it has a usable one."""
    if isinstance(raw, Mapping) and _is_int(raw.get("id")):
        return int(raw["id"])
    return None


def is_deleted(raw: Mapping[str, Any]) -> bool:
    """True for the tombstones the incremental export emits for deleted tickets."""
    return raw.get("status") == "deleted"


def normalize_ticket(raw: Mapping[str, Any], side: SideLoads, profile: ConnectorProfile) -> Ticket:
    """One Zendesk ticket as a model Ticket; raises MalformedRecord when it cannot be read."""
    if not isinstance(raw, Mapping):
        raise MalformedRecord("ticket is not an object")
    ticket_id = ticket_id_of(raw)
    if ticket_id is None:
        raise MalformedRecord(f"ticket id is missing or not an integer: {raw.get('id')!r}")
    created_at = parse_time(raw.get("created_at"), "created_at")
    updated_raw = raw.get("updated_at")
    updated_at = parse_time(updated_raw, "updated_at")
    group = _opt_int(raw, "group_id")
    external_id = raw.get("external_id")
    if external_id is not None and not isinstance(external_id, str):
        external_id = str(external_id)
    ticket = Ticket(
        id=ticket_id,
        subject=_text(raw.get("subject")),
        description=_text(raw.get("description")),
        status=_status(raw.get("status")),
        priority=_priority(raw.get("priority")),
        type=raw.get("type") if isinstance(raw.get("type"), str) else None,
        channel=_channel(raw.get("via")),
        tags=_tags(raw.get("tags")),
        group=group,
        assignee=_opt_int(raw, "assignee_id"),
        tier=profile.tier_of_group(group),
        created_at=created_at,
        updated_at=updated_at,
        requester=_person(_opt_int(raw, "requester_id"), side.users),
        organization=_organization(_opt_int(raw, "organization_id"), side.organizations),
        satisfaction=_satisfaction(raw.get("satisfaction_rating")),
        custom=_custom(raw, profile.custom_field_names),
        version=str(updated_raw),
        external_id=external_id,
        is_worker_task=bool(external_id and external_id.startswith(MARKER_PREFIX)),
        unknown=COMMENT_FIELDS | {"reopens"},
    )
    ticket = _apply_metrics(ticket, side.metrics.get(ticket_id))
    return _only_description(ticket, _opt_int(raw, "submitter_id"), side.users)


def _text(value: Any) -> str:
    """A string field, empty when null."""
    return value if isinstance(value, str) else ""


def _status(value: Any) -> str:
    """Zendesk status to model status (`hold` is `on_hold`)."""
    status = STATUS_IN.get(value, value) if isinstance(value, str) else value
    if status not in STATUSES:
        raise MalformedRecord(f"unknown status {value!r}")
    return str(status)


def _priority(value: Any) -> str | None:
    """A priority, None when unset."""
    if value is None:
        return None
    if value not in PRIORITIES:
        raise MalformedRecord(f"unknown priority {value!r}")
    return str(value)


def _channel(via: Any) -> str | None:
    """The channel the ticket came through (`via.channel`)."""
    channel = via.get("channel") if isinstance(via, Mapping) else None
    return channel if isinstance(channel, str) else None


def _tags(value: Any) -> tuple[str, ...]:
    """The tag list; anything but a list of strings is malformed."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise MalformedRecord(f"tags is not a list of strings: {value!r}")
    return tuple(value)


def _person(user_id: int | None, users: Mapping[int, Mapping[str, Any]]) -> Person:
    """The requester from the side-loaded users (only the id when it was not side-loaded)."""
    user = users.get(user_id) if user_id is not None else None
    if user is None:
        return Person(id=user_id)
    return Person(
        id=user_id,
        name=user.get("name") if isinstance(user.get("name"), str) else None,
        email=user.get("email") if isinstance(user.get("email"), str) else None,
        tags=_loose_tags(user.get("tags")),
    )


def _organization(org_id: int | None, orgs: Mapping[int, Mapping[str, Any]]) -> Organization:
    """The organization from the side-loads (only the id when it was not side-loaded)."""
    org = orgs.get(org_id) if org_id is not None else None
    if org is None:
        return Organization(id=org_id)
    name = org.get("name")
    return Organization(
        id=org_id, name=name if isinstance(name, str) else None, tags=_loose_tags(org.get("tags"))
    )


def _loose_tags(value: Any) -> tuple[str, ...]:
    """Tags of a side-loaded record, keeping only strings."""
    return tuple(t for t in value if isinstance(t, str)) if isinstance(value, list) else ()


def _satisfaction(rating: Any) -> str:
    """`good`/`bad` from satisfaction_rating.score, `none` for anything else."""
    score = rating.get("score") if isinstance(rating, Mapping) else None
    return score if score in ("good", "bad") else "none"


def _custom(raw: Mapping[str, Any], names: Mapping[str, int | str]) -> dict[str, Any]:
    """Profile custom fields by name, matched on the field id compared as text."""
    entries = raw.get("custom_fields")
    if not isinstance(entries, list):
        entries = raw.get("fields")
    if not isinstance(entries, list):
        entries = []
    by_id = {str(e["id"]): e.get("value") for e in entries if isinstance(e, Mapping) and "id" in e}
    return {name: by_id.get(str(field_id)) for name, field_id in names.items()}


def _apply_metrics(ticket: Ticket, metrics: Mapping[str, Any] | None) -> Ticket:
    """Fill reopens, agent replies and first reply time from the ticket's metric set."""
    if metrics is None:
        return ticket
    unknown = set(COMMENT_FIELDS)
    if _is_int(metrics.get("reopens")):
        ticket.reopens = metrics["reopens"]
    else:
        unknown.add("reopens")
    if _is_int(metrics.get("replies")):
        ticket.agent_replies = metrics["replies"]
        unknown.discard("agent_replies")
    reply_time = metrics.get("reply_time_in_minutes")
    if isinstance(reply_time, Mapping) and "calendar" in reply_time:
        minutes = reply_time["calendar"]
        if minutes is None:
            unknown.discard("first_agent_reply_at")  # the metric says: no reply yet
        elif isinstance(minutes, int | float) and ticket.created_at is not None:
            ticket.first_agent_reply_at = ticket.created_at + timedelta(minutes=minutes)
            unknown.discard("first_agent_reply_at")
    ticket.unknown = frozenset(unknown)
    latest = metrics.get("latest_comment_added_at")
    if isinstance(latest, str) and _fresh(metrics, ticket):
        # an unreadable time vouches for nothing: the comments are read when a rule needs them
        with contextlib.suppress(MalformedRecord):
            ticket.latest_comment_at = parse_time(latest, "latest_comment_added_at")
    return ticket


def _fresh(metrics: Mapping[str, Any], ticket: Ticket) -> bool:
    """Whether the metric set was computed for this version of the ticket or a later one
    (its `updated_at` no older than the ticket's): only then does its newest-comment time say
    that no comment came since."""
    try:
        updated = parse_time(metrics.get("updated_at"), "updated_at")
    except MalformedRecord:
        return False
    return ticket.updated_at is not None and updated >= ticket.updated_at


def _only_description(
    ticket: Ticket, submitter: int | None, users: Mapping[int, Mapping[str, Any]]
) -> Ticket:
    """The ticket with its comment fields known when its one comment is the description.

    The metric set says the newest comment was added when the ticket was created (to the
    second), so the description is the only comment; the requester submitted the ticket and
    is not an agent, so it is a public customer comment. Anything less certain (an agent
    opened the ticket for the customer, the requester's role not side-loaded, a worker marker
    in the text) is left to the comment read.
    """
    requester = ticket.requester.id
    role = users.get(requester, {}).get("role") if requester is not None else None
    if (
        ticket.latest_comment_at is None
        or ticket.created_at is None
        or ticket.latest_comment_at.replace(microsecond=0)
        != ticket.created_at.replace(microsecond=0)
        or submitter is None
        or submitter != requester
        or not isinstance(role, str)
        or role in AGENT_ROLES
        or not ticket.description
        or MARKER_PREFIX in ticket.description
    ):
        return ticket
    only = Comment(
        id=0,  # the description's comment id is not in the ticket; nothing keys on it
        author_id=requester,
        body=ticket.description,
        public=True,
        created_at=ticket.created_at,
        author_role="customer",
    )
    return derive_comment_fields(ticket, [only])


def normalize_comment(
    raw: Mapping[str, Any],
    *,
    requester_id: int | None,
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
) -> Comment:
    """One comment as a model Comment, with who wrote it in helpdesk terms."""
    comment_id = ticket_id_of(raw)
    if comment_id is None:
        raise MalformedRecord(f"comment id is missing or not an integer: {raw.get('id')!r}")
    author_id = _opt_int(raw, "author_id")
    body = _text(raw.get("body")) or _text(raw.get("plain_body"))
    return Comment(
        id=comment_id,
        author_id=author_id,
        body=body,
        public=raw.get("public") is True,
        created_at=parse_time(raw.get("created_at"), "created_at"),
        author_role=author_role(author_id, body, requester_id, bot_user_id, users),
    )


def author_role(
    author_id: int | None,
    body: str,
    requester_id: int | None,
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
) -> Literal["customer", "agent", "worker"]:
    """Worker (bot user or marker), customer (the requester), agent (agent/admin role)."""
    if (bot_user_id is not None and author_id == bot_user_id) or MARKER_PREFIX in body:
        return "worker"
    if author_id is not None and author_id == requester_id:
        return "customer"
    user = users.get(author_id) if author_id is not None else None
    if user is not None and user.get("role") in AGENT_ROLES:
        return "agent"
    return "customer"


def update_body(update: TicketUpdate, profile: ConnectorProfile) -> dict[str, Any]:
    """The `{"ticket": {...}}` body of the main PUT, carrying only the fields that are set."""
    ticket: dict[str, Any] = {}
    if update.tags is not None:
        ticket["tags"] = list(update.tags)
    if update.group is not None:
        ticket["group_id"] = _id_value(update.group)
    if update.priority is not None:
        ticket["priority"] = update.priority
    if update.status is not None:
        ticket["status"] = STATUS_OUT.get(update.status, update.status)
    if update.custom_fields:
        ticket["custom_fields"] = [
            {"id": _id_value(_field_id(name, profile)), "value": _field_value(value)}
            for name, value in update.custom_fields.items()
        ]
    if update.note is not None:
        ticket["comment"] = {"body": update.note, "public": False}
    return ticket


def _field_id(name: str, profile: ConnectorProfile) -> int | str:
    """The custom field id of a profile field name; an unknown name is a config mistake."""
    try:
        return profile.fields[name]
    except KeyError:
        raise HelpdeskError(
            f"custom field {name!r} is not mapped in profile {profile.name or profile.path!r} "
            "[fields]"
        ) from None


def with_stamp(ticket: dict[str, Any], stamp: str | None) -> dict[str, Any]:
    """Wrap a ticket body, adding safe_update with the stamp when one is known."""
    if stamp is not None:
        ticket = {**ticket, "safe_update": True, "updated_stamp": stamp}
    return {"ticket": ticket}


def task_body(task: TaskCreate) -> dict[str, Any]:
    """The POST body of a follow-up task ticket."""
    ticket: dict[str, Any] = {
        "subject": task.title,
        "comment": {"body": task.body, "public": False},
        "type": "task",
        "external_id": task.external_id,
        "tags": ["esc-sync-task"],
    }
    if task.due_at is not None:
        ticket["due_at"] = format_time(task.due_at)
    if task.group is not None:
        ticket["group_id"] = _id_value(task.group)
    return {"ticket": ticket}


def bulk_update_item(update: TicketUpdate, profile: ConnectorProfile) -> dict[str, Any]:
    """One entry of an `update_many` `tickets` array: the ticket's id and its own changes.

    The same fields as `update_body`, except that tags go in `additional_tags` (added to the
    ticket's tags as they are when the job runs, so a tag a person adds meanwhile is kept), and
    the comment is the internal note or the customer message: an item carries one comment, so an
    update with both is refused (ValueError). `safe_update` + `updated_stamp` when a version is
    known, as on a single PUT.
    """
    if update.note is not None and update.customer_message is not None:
        raise ValueError(
            f"ticket {update.ticket_id}: a bulk item carries one comment, "
            "not both a note and a customer message"
        )
    ticket = update_body(update, profile)
    if "tags" in ticket:
        ticket["additional_tags"] = ticket.pop("tags")
    if update.customer_message is not None:
        ticket["comment"] = {"body": update.customer_message, "public": True}
    return {"id": update.ticket_id, **with_stamp(ticket, update.version)["ticket"]}


def chunks(ids: Iterable[_T], size: int) -> list[list[_T]]:
    """Ids in lists of at most `size`, order kept."""
    items = list(ids)
    return [items[i : i + size] for i in range(0, len(items), size)]
