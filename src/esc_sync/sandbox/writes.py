"""Ticket writes: validate everything first, then apply, so a refused write changes nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from esc_sync.sandbox.errors import (
    CLOSED_TICKET,
    UPDATE_CONFLICT,
    ApiError,
    invalid_json,
    record_invalid,
)
from esc_sync.sandbox.render import iso
from esc_sync.sandbox.store import (
    OPEN_ISH,
    PRIORITIES,
    STATUSES,
    TYPES,
    Comment,
    Store,
    Ticket,
    User,
)

BLANK_DESCRIPTION = {
    "error": "RecordInvalid",
    "description": "Record validation errors",
    "details": {"base": [{"description": "Description: cannot be blank", "error": "BlankValue"}]},
}
_TAG_SPLIT = re.compile(r"[\s,]+")


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (Z or offset) as an aware datetime; None when unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def html_of(text: str) -> str:
    """The html_body Zendesk renders for a plain-text comment."""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p)
    return f'<div class="zd-comment" dir="auto">{paragraphs}</div>'


def _tags(value: Any) -> list[str]:
    """Normalised tags: lower case, split on spaces, de-duplicated in order."""
    if not isinstance(value, list):
        raise record_invalid("tags", "Tags must be a list")
    out: list[str] = []
    for item in value:
        for tag in _TAG_SPLIT.split(str(item).strip().lower()):
            if tag and tag not in out:
                out.append(tag)
    return out


def normalise_tags(value: Any) -> list[str]:
    """Tags as a write stores them (a 422 when the value is not a list)."""
    return _tags(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...], nullable: bool) -> str | None:
    """A value from a fixed vocabulary (or None where allowed)."""
    if value is None and nullable:
        return None
    if value not in allowed:
        raise record_invalid(name, f"{name.capitalize()}: {value!r} is not valid")
    return str(value)


def _member(store: Store, name: str, value: Any, agents_only: bool) -> int | None:
    """A group or assignee id that exists (None clears it)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise record_invalid(name, f"{name}: {value!r} is not a number")
    known = store.is_agent(value) if agents_only else value in store.groups
    if not known:
        raise record_invalid(name, f"{name}: {value} is not valid")
    return value


def validate_fields(
    store: Store, payload: dict[str, Any], *, allow_rating: bool = False
) -> dict[str, Any]:
    """The writable ticket fields in `payload`, validated and normalised; unknown keys ignored."""
    out: dict[str, Any] = {}
    if "tags" in payload:
        out["tags"] = _tags(payload["tags"])
    if "status" in payload:
        out["status"] = _choice("status", payload["status"], STATUSES, nullable=False)
    if "priority" in payload:
        out["priority"] = _choice("priority", payload["priority"], PRIORITIES, nullable=True)
    if "type" in payload:
        out["type"] = _choice("type", payload["type"], TYPES, nullable=True)
    if "group_id" in payload:
        out["group_id"] = _member(store, "group_id", payload["group_id"], agents_only=False)
    if "assignee_id" in payload:
        out["assignee_id"] = _member(store, "assignee_id", payload["assignee_id"], agents_only=True)
    if "due_at" in payload:
        due = payload["due_at"]
        out["due_at"] = None if due is None else parse_time(due)
        if due is not None and out["due_at"] is None:
            raise record_invalid("due_at", f"Due at: {due!r} is not a valid date")
    for key in ("subject", "external_id"):
        if key in payload:
            out[key] = None if payload[key] is None else str(payload[key])
    if "custom_fields" in payload:
        out["custom"] = _custom(payload["custom_fields"])
    if allow_rating and "satisfaction_rating" in payload:
        out["satisfaction"] = payload["satisfaction_rating"]
    return out


def _custom(value: Any) -> dict[int, Any]:
    """Custom field values by id from a `[{id, value}]` list."""
    if not isinstance(value, list):
        raise record_invalid("custom_fields", "Custom fields must be a list")
    out: dict[int, Any] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise record_invalid("custom_fields", f"Invalid custom field entry {item!r}")
        out[item["id"]] = item.get("value")
    return out


def comment_of(value: Any, author: User) -> tuple[str, bool, int] | None:
    """(body, public, author id) of a `comment` object; None when there is none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise record_invalid("comment", "Comment must be an object")
    text = value.get("body") or value.get("value")
    if not text and value.get("html_body"):
        text = html.unescape(re.sub(r"<[^>]+>", " ", str(value["html_body"]))).strip()
    if not text:
        raise ApiError(422, BLANK_DESCRIPTION)
    public = value.get("public", True)
    given = value.get("author_id")
    author_id = given if isinstance(given, int) else author.id
    return str(text), public is not False, author_id


def _change(field: str, value: Any, previous: Any, event_id: int) -> dict[str, Any]:
    """One audit Change event."""
    return {
        "id": event_id,
        "type": "Change",
        "field_name": field,
        "value": value,
        "previous_value": previous,
    }


def _apply_status(ticket: Ticket, status: str, now: datetime) -> None:
    """Set the status with its side effects on the metric counters."""
    if ticket.status == "solved" and status in OPEN_ISH:
        ticket.reopens += 1
    if status == "solved":
        ticket.solved_at = now
    ticket.status = status
    ticket.status_updated_at = now


def _apply(
    store: Store, ticket: Ticket, fields: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Apply validated fields; one Change event per field that actually changed."""
    events: list[dict[str, Any]] = []
    for name, value in fields.items():
        if name == "custom":
            for fid, fvalue in value.items():
                if ticket.custom.get(fid) != fvalue or fid not in ticket.custom:
                    events.append(
                        _change(str(fid), fvalue, ticket.custom.get(fid), store.audit_id())
                    )
                    ticket.custom[fid] = fvalue
            continue
        previous = getattr(ticket, name)
        if previous == value:
            continue
        shown = iso(value) if name == "due_at" else value
        events.append(
            _change(name, shown, iso(previous) if name == "due_at" else previous, store.audit_id())
        )
        if name == "status":
            _apply_status(ticket, value, now)
        elif name == "group_id":
            ticket.group_id = value
            ticket.group_stations += 1
        elif name == "assignee_id":
            ticket.assignee_id = value
            ticket.assignee_stations += 1
            ticket.assigned_at = now
            ticket.initially_assigned_at = ticket.initially_assigned_at or now
        else:
            setattr(ticket, name, value)
    return events


def _append_comment(
    store: Store, ticket: Ticket, comment: tuple[str, bool, int], audit_id: int, channel: str
) -> dict[str, Any]:
    """Add a comment at the ticket's (just stamped) updated_at; returns its audit event."""
    body, public, author_id = comment
    stored = Comment(
        store.comment_id(),
        author_id,
        body,
        html_of(body),
        public,
        ticket.updated_at,
        audit_id,
        channel,
    )
    ticket.comments.append(stored)
    return {
        "id": stored.id,
        "type": "Comment",
        "author_id": author_id,
        "body": body,
        "html_body": stored.html_body,
        "plain_body": body,
        "public": public,
        "attachments": [],
        "audit_id": audit_id,
    }


def _audit(
    store: Store,
    ticket: Ticket,
    audit_id: int,
    author: User,
    channel: str,
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The audit object returned with a write."""
    return {
        "id": audit_id,
        "ticket_id": ticket.id,
        "created_at": iso(ticket.updated_at),
        "author_id": author.id,
        "metadata": {"system": {"client": "sandbox", "ip_address": "127.0.0.1"}, "custom": {}},
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "events": events,
    }


def check_safe_update(ticket: Ticket, payload: dict[str, Any]) -> None:
    """Refuse with 409 when safe_update is asked and updated_stamp is not the current updated_at."""
    if "safe_update" not in payload or "updated_stamp" not in payload:
        return  # per the OAS, even `false` asks for a safe update; only omission opts out
    stamp = parse_time(payload["updated_stamp"])
    if stamp is None or stamp.replace(microsecond=0) != ticket.updated_at:
        raise ApiError(409, UPDATE_CONFLICT)


def ticket_payload(body: Any) -> dict[str, Any]:
    """The `ticket` object of a request body."""
    if not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
        raise invalid_json("The request body must be a JSON object with a ticket object")
    ticket: dict[str, Any] = body["ticket"]
    return ticket


def update_ticket(
    store: Store,
    ticket_id: int,
    payload: dict[str, Any],
    author: User,
    *,
    channel: str = "api",
    admin: bool = False,
) -> tuple[Ticket, dict[str, Any]]:
    """PUT /tickets/{id}: all or nothing; bumps timestamps only when something changed."""
    with store.lock:
        ticket = store.ticket(ticket_id)
        if ticket.status == "closed":
            raise ApiError(422, CLOSED_TICKET)
        check_safe_update(ticket, payload)
        fields = validate_fields(store, payload, allow_rating=admin)
        comment = comment_of(payload.get("comment"), author)
        audit_id = store.audit_id()
        changing = comment is not None or _differs(ticket, fields)
        now = store.stamp(ticket) if changing else ticket.updated_at
        events = _apply(store, ticket, fields, now)
        if comment is not None:
            events.append(_append_comment(store, ticket, comment, audit_id, channel))
        return ticket, _audit(store, ticket, audit_id, author, channel, events)


def _differs(ticket: Ticket, fields: dict[str, Any]) -> bool:
    """True when applying `fields` would change the ticket."""
    for name, value in fields.items():
        if name == "custom":
            if any(fid not in ticket.custom or ticket.custom[fid] != v for fid, v in value.items()):
                return True
        elif getattr(ticket, name) != value:
            return True
    return False


def create_ticket(
    store: Store,
    payload: dict[str, Any],
    author: User,
    custom_ids: tuple[int, ...],
    *,
    channel: str = "api",
) -> tuple[Ticket, dict[str, Any]]:
    """POST /tickets: a new ticket with its first comment; requester defaults to the author."""
    with store.lock:
        fields = validate_fields(store, payload)
        comment = comment_of(payload.get("comment"), author)
        if comment is None:
            raise ApiError(422, BLANK_DESCRIPTION)
        requester = _requester(store, payload, author)
        now = store.now().replace(microsecond=0)
        assignee = fields.get("assignee_id")
        ticket = Ticket(
            id=store.next_ticket_id(),
            subject=fields.get("subject") or comment[0].split("\n")[0][:80],
            status=fields.get("status") or ("open" if assignee else "new"),
            priority=fields.get("priority"),
            type=fields.get("type"),
            requester_id=requester.id,
            submitter_id=author.id,
            assignee_id=assignee,
            organization_id=requester.organization_id,
            group_id=fields.get("group_id"),
            tags=fields.get("tags", []),
            custom={fid: None for fid in custom_ids} | fields.get("custom", {}),
            created_at=now,
            updated_at=now,
            gen_us=0,
            channel=channel,
            due_at=fields.get("due_at"),
            external_id=fields.get("external_id"),
            status_updated_at=now,
            assigned_at=now if assignee else None,
            initially_assigned_at=now if assignee else None,
            assignee_stations=1 if assignee else 0,
        )
        store.tickets[ticket.id] = ticket
        store.stamp(ticket)
        ticket.created_at = ticket.updated_at
        audit_id = store.audit_id()
        events = [
            {"id": store.audit_id(), "type": "Create", "field_name": name, "value": value}
            for name, value in _created_fields(ticket).items()
        ]
        events.append(_append_comment(store, ticket, comment, audit_id, channel))
        return ticket, _audit(store, ticket, audit_id, author, channel, events)


def _created_fields(ticket: Ticket) -> dict[str, Any]:
    """The fields listed as Create events in a new ticket's audit."""
    return {
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "type": ticket.type,
        "group_id": ticket.group_id,
        "assignee_id": ticket.assignee_id,
        "requester_id": ticket.requester_id,
        "tags": list(ticket.tags),
        "due_at": iso(ticket.due_at),
    }


def _requester(store: Store, payload: dict[str, Any], author: User) -> User:
    """The requester: requester_id, a requester {name, email} object, or the author."""
    rid = payload.get("requester_id")
    if rid is not None:
        found = store.user(rid) if isinstance(rid, int) else None
        if found is None:
            raise record_invalid("requester_id", f"Requester: {rid!r} is not valid")
        return found
    spec = payload.get("requester")
    if isinstance(spec, dict) and spec.get("email"):
        email = str(spec["email"])
        return store.user_by_email(email) or store.add_end_user(str(spec.get("name") or ""), email)
    return author


def add_comment(store: Store, ticket_id: int, author_id: int, body: str, public: bool) -> Comment:
    """A customer or agent writes on a ticket (the admin hook); a customer reply reopens it."""
    with store.lock:
        ticket = store.ticket(ticket_id)
        if ticket.status == "closed":
            raise ApiError(422, CLOSED_TICKET)
        author = store.user(author_id)
        if author is None:
            raise record_invalid("author_id", f"Author: {author_id!r} is not valid")
        now = store.stamp(ticket)
        if not author.is_agent and public and ticket.status in ("pending", "solved"):
            _apply_status(ticket, "open", now)
        _append_comment(store, ticket, (body, public, author_id), store.audit_id(), "web")
        return ticket.comments[-1]
