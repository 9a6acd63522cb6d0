"""Freshdesk payloads to and from the shared model. Pure functions: no I/O, no clock.

Shapes follow the Freshdesk API v2 (helpdesk-apis.md §B): flat ticket objects with integer
`status`/`priority`, `custom_fields` keyed `cf_*`, `stats` and `requester` from `include=`,
conversations with `incoming`/`private`/`user_id`, bodies in HTML with a `body_text` twin.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.payload import MalformedRecord as MalformedRecord
from esc_sync.connectors.payload import format_time as format_time
from esc_sync.connectors.payload import is_int as _is_int
from esc_sync.connectors.payload import opt_int as _opt_int
from esc_sync.connectors.payload import parse_time as parse_time
from esc_sync.errors import HelpdeskError
from esc_sync.model import (
    COMMENT_FIELDS,
    MARKER_PREFIX,
    Comment,
    Organization,
    Person,
    Ticket,
)

STATUS_IN = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
STATUS_OUT = {"new": 2, "open": 2, "pending": 3, "solved": 4, "closed": 5}
PRIORITY_IN = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
PRIORITY_OUT = {v: k for k, v in PRIORITY_IN.items()}
SOURCE_IN = {1: "email", 2: "web", 3: "voice", 7: "chat", 8: "mobile", 9: "web", 10: "email"}
DEADLINE_FIELDS = ("fr_due_by", "due_by")  # Freshdesk's own deadlines, top-level fields
TASK_TAG = "esc-sync-task"
# Known from `stats` (null means "not yet"); the rest needs the conversations.
STATS_FIELDS = frozenset({"first_agent_reply_at", "last_agent_reply_at", "last_customer_reply_at"})
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|h\d)>|<br\s*/?>", re.IGNORECASE)


def opt_time(value: Any, key: str) -> datetime | None:
    """An optional timestamp (null stays None)."""
    return None if value is None else parse_time(value, key)


def ticket_id_of(raw: Any) -> int | None:
    """The id of a raw record, if it has a usable one."""
    if isinstance(raw, Mapping) and _is_int(raw.get("id")):
        return int(raw["id"])
    return None


def html_to_text(body: str) -> str:
    """Plain text of an HTML body: block ends become line breaks, entities decoded."""
    text = _BLOCK_END.sub("\n", body)
    return html.unescape(_TAG.sub("", text)).strip()


def text_to_html(text: str) -> str:
    """An HTML body for plain text: paragraphs on blank lines, `<br>` on single line breaks."""
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def company_tags(company: Mapping[str, Any]) -> tuple[str, ...]:
    """Organization tags of a Freshdesk company: its `account_tier` and a `tags` custom field."""
    tags: list[str] = []
    tier = company.get("account_tier")
    if isinstance(tier, str) and tier.strip():
        tags.append(tier.strip().lower().replace(" ", "_"))
    custom = company.get("custom_fields")
    extra = custom.get("tags") if isinstance(custom, Mapping) else None
    if isinstance(extra, str):
        extra = extra.split(",")
    if isinstance(extra, list):
        tags += [t.strip().lower() for t in extra if isinstance(t, str) and t.strip()]
    return tuple(dict.fromkeys(tags))


def status_in(value: Any, profile: ConnectorProfile) -> str:
    """Freshdesk's integer status as a model status (custom ids >= 6 through the profile)."""
    if _is_int(value) and value in STATUS_IN:
        return STATUS_IN[value]
    if _is_int(value) and value in profile.statuses:
        return str(profile.statuses[value])
    raise MalformedRecord(
        f"unknown status {value!r} (map custom statuses in the profile's [statuses])"
    )


def status_out(status: str, profile: ConnectorProfile) -> int:
    """A model status as Freshdesk's integer (on_hold needs a custom status in the profile)."""
    if status in STATUS_OUT:
        return STATUS_OUT[status]
    for code, name in sorted(profile.statuses.items()):
        if name == status:
            return code
    raise HelpdeskError(f"status {status!r} has no Freshdesk status: map one in [statuses]")


def normalize_ticket(
    raw: Mapping[str, Any],
    profile: ConnectorProfile,
    companies: Mapping[int, Mapping[str, Any]],
) -> Ticket:
    """One Freshdesk ticket as a model Ticket; raises MalformedRecord when it cannot be read."""
    if not isinstance(raw, Mapping):
        raise MalformedRecord("ticket is not an object")
    ticket_id = ticket_id_of(raw)
    if ticket_id is None:
        raise MalformedRecord(f"ticket id is missing or not an integer: {raw.get('id')!r}")
    updated_raw = raw.get("updated_at")
    group = _opt_int(raw, "group_id")
    priority = raw.get("priority")
    if priority is not None and not (_is_int(priority) and priority in PRIORITY_IN):
        raise MalformedRecord(f"unknown priority {priority!r}")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MalformedRecord(f"tags is not a list of strings: {tags!r}")
    custom_raw = raw.get("custom_fields") or {}
    if not isinstance(custom_raw, Mapping):
        raise MalformedRecord("custom_fields is not an object")
    ticket = Ticket(
        id=ticket_id,
        subject=str(raw.get("subject") or ""),
        description=_description(raw),
        status=status_in(raw.get("status"), profile),
        priority=PRIORITY_IN.get(priority) if priority is not None else None,
        type=raw["type"].lower() if isinstance(raw.get("type"), str) else None,
        channel=SOURCE_IN.get(int(raw["source"])) if _is_int(raw.get("source")) else None,
        tags=tuple(tags),
        group=group,
        assignee=_opt_int(raw, "responder_id"),
        tier=profile.tier_of_group(group),
        created_at=parse_time(raw.get("created_at"), "created_at"),
        updated_at=parse_time(updated_raw, "updated_at"),
        requester=_requester(raw),
        organization=_organization(_opt_int(raw, "company_id"), companies),
        custom={
            name: _custom_value(raw, custom_raw, str(key))
            for name, key in profile.custom_field_names.items()
        },
        version=str(updated_raw),
        is_worker_task=TASK_TAG in tags,
        unknown=COMMENT_FIELDS | {"satisfaction", "reopens", "requester.tags"},
    )
    _apply_stats(ticket, raw.get("stats"))
    _apply_reopens(ticket, raw, custom_raw, profile)
    return ticket


def _description(raw: Mapping[str, Any]) -> str:
    """The description as text (`description_text`, else the HTML stripped)."""
    text = raw.get("description_text")
    if isinstance(text, str):
        return text
    body = raw.get("description")
    return html_to_text(body) if isinstance(body, str) else ""


def _custom_value(raw: Mapping[str, Any], custom: Mapping[str, Any], key: str) -> Any:
    """A profile field's value: a `cf_*` custom field, or a top-level field such as `due_by`."""
    return raw.get(key) if key in DEADLINE_FIELDS else custom.get(key)


def _requester(raw: Mapping[str, Any]) -> Person:
    """The requester from `include=requester` (only the id when it was not included)."""
    rid = _opt_int(raw, "requester_id")
    req = raw.get("requester")
    if not isinstance(req, Mapping):
        return Person(id=rid)
    name, email = req.get("name"), req.get("email")
    return Person(
        id=rid if rid is not None else ticket_id_of(req),
        name=name if isinstance(name, str) else None,
        email=email if isinstance(email, str) else None,
    )


def _organization(
    company_id: int | None, companies: Mapping[int, Mapping[str, Any]]
) -> Organization:
    """The company as the organization (only the id when it could not be read)."""
    company = companies.get(company_id) if company_id is not None else None
    if company is None:
        return Organization(id=company_id)
    name = company.get("name")
    return Organization(
        id=company_id, name=name if isinstance(name, str) else None, tags=company_tags(company)
    )


def _apply_stats(ticket: Ticket, stats: Any) -> None:
    """Reply timestamps from `include=stats`; without stats they stay unknown."""
    if not isinstance(stats, Mapping):
        return
    ticket.first_agent_reply_at = opt_time(stats.get("first_responded_at"), "first_responded_at")
    ticket.last_agent_reply_at = opt_time(stats.get("agent_responded_at"), "agent_responded_at")
    ticket.last_customer_reply_at = opt_time(
        stats.get("requester_responded_at"), "requester_responded_at"
    )
    ticket.unknown = ticket.unknown - STATS_FIELDS
    if "reopened_at" in stats and stats["reopened_at"] is None:
        ticket.reopens = 0  # never reopened: the count is known exactly
        ticket.unknown = ticket.unknown - {"reopens"}
    elif stats.get("reopened_at") is not None:
        ticket.reopens = 1  # reopened at least once; the worker counts on from its episodes
        ticket.count_reopens = True


def _apply_reopens(
    ticket: Ticket, raw: Mapping[str, Any], custom: Mapping[str, Any], profile: ConnectorProfile
) -> None:
    """A reopen count from the profile's `reopens` field, when one is mapped and set."""
    key = profile.fields.get("reopens")
    if key is None:
        return
    value = _custom_value(raw, custom, str(key))
    if _is_int(value) or (isinstance(value, float) and value.is_integer()):
        ticket.reopens = int(value)
        ticket.unknown = ticket.unknown - {"reopens"}
        ticket.count_reopens = False


def with_people(
    ticket: Ticket,
    requester_tags: tuple[str, ...] | None,
    rating: Mapping[str, Any] | None,
    *,
    ratings_available: bool,
) -> Ticket:
    """The ticket with its requester's contact tags and its latest rating, each known only
    when it was read (a contact that could not be read leaves `requester.tags` unknown)."""
    unknown = set(ticket.unknown)
    if requester_tags is not None:
        ticket.requester = dataclasses.replace(ticket.requester, tags=requester_tags)
        unknown.discard("requester.tags")
    ticket.satisfaction = (
        satisfaction_of([rating] if rating else []) if ratings_available else "none"
    )
    unknown.discard("satisfaction")
    ticket.unknown = frozenset(unknown)
    return ticket


def satisfaction_of(ratings: Any) -> Literal["good", "bad", "none"]:
    """The latest rating's default question: > 100 good, < 100 bad (neutral 100 is none)."""
    items = [r for r in ratings if isinstance(r, Mapping)] if isinstance(ratings, list) else []
    if not items:
        return "none"
    latest = max(items, key=lambda r: (str(r.get("created_at") or ""), r.get("id") or 0))
    scores = latest.get("ratings")
    score = scores.get("default_question") if isinstance(scores, Mapping) else None
    if not isinstance(score, int) or isinstance(score, bool) or score == 100:
        return "none"
    return "good" if score > 100 else "bad"


def normalize_conversation(
    raw: Mapping[str, Any], *, requester_id: int | None, bot_user_id: int | None
) -> Comment:
    """One conversation (reply or note) as a model Comment, with who wrote it."""
    comment_id = ticket_id_of(raw)
    if comment_id is None:
        raise MalformedRecord(f"conversation id is missing or not an integer: {raw.get('id')!r}")
    user_id = _opt_int(raw, "user_id")
    text = raw.get("body_text")
    body = text if isinstance(text, str) else html_to_text(str(raw.get("body") or ""))
    return Comment(
        id=comment_id,
        author_id=user_id,
        body=body,
        public=raw.get("private") is not True,
        created_at=parse_time(raw.get("created_at"), "created_at"),
        author_role=author_role(raw, user_id, body, requester_id, bot_user_id),
    )


def author_role(
    raw: Mapping[str, Any],
    user_id: int | None,
    body: str,
    requester_id: int | None,
    bot_user_id: int | None,
) -> Literal["customer", "agent", "worker"]:
    """Worker (bot user or marker), customer (incoming or the requester), else an agent."""
    if (bot_user_id is not None and user_id == bot_user_id) or MARKER_PREFIX in body:
        return "worker"
    if raw.get("incoming") is True or (user_id is not None and user_id == requester_id):
        return "customer"
    return "agent"


def description_comment(ticket: Ticket) -> Comment | None:
    """The description as the customer's first comment (Freshdesk keeps it out of conversations)."""
    if not ticket.description or ticket.created_at is None:
        return None
    return Comment(
        id=0,
        author_id=ticket.requester.id,
        body=ticket.description,
        public=True,
        created_at=ticket.created_at,
        author_role="customer",
    )
