"""Freshdesk writes over the shared store: flat bodies validated the Freshdesk way, then applied.

Validation failures answer 400 `{"description": "Validation failed", "errors": [{field, message,
code}]}` (helpdesk-apis.md §B7); the store is only touched once the whole body is valid.
"""

from __future__ import annotations

from typing import Any

from esc_sync.sandbox.errors import ApiError
from esc_sync.sandbox.freshdesk_render import (
    CF_IDS,
    DEADLINES,
    PRIORITY_NAME,
    REOPEN_FIELD,
    STATUS_NAME,
    text_of,
)
from esc_sync.sandbox.store import Comment, Store, Ticket, User
from esc_sync.sandbox.writes import (
    add_comment,
    create_ticket,
    parse_time,
    update_ticket,
)

UPDATABLE = frozenset(
    {"tags", "group_id", "responder_id", "priority", "status", "custom_fields", "subject", "type"}
    | set(DEADLINES)
)
CREATABLE = UPDATABLE | {"description", "email", "requester_id", "parent_id", "source"}


def validation(*errors: tuple[str | None, str, str]) -> ApiError:
    """400 Validation failed with one entry per (field, message, code)."""
    items = [
        ({"field": f} if f else {}) | {"message": message, "code": code}
        for f, message, code in errors
    ]
    return ApiError(400, {"description": "Validation failed", "errors": items})


def _check_keys(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """The body as an object with only known fields (else invalid_field / invalid_json)."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            {
                "description": "Validation failed",
                "errors": [
                    {"message": "Request body has invalid json format", "code": "invalid_json"}
                ],
            },
        )
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise validation(
            *((k, "Unexpected/invalid field in request", "invalid_field") for k in unknown)
        )
    return body


def _choice(name: str, value: Any, table: dict[int, str]) -> str:
    """An integer code from a fixed table, as its store name."""
    if not isinstance(value, int) or isinstance(value, bool) or value not in table:
        allowed = ",".join(str(k) for k in sorted(table))
        raise validation((name, f"It should be one of these values: '{allowed}'", "invalid_value"))
    return table[value]


def translate(store: Store, ticket: Ticket | None, body: dict[str, Any]) -> dict[str, Any]:
    """A Freshdesk body as the store's (Zendesk-shaped) write payload, validated."""
    out: dict[str, Any] = {}
    for key in ("tags", "group_id", "subject"):
        if key in body:
            out[key] = body[key]
    if "type" in body:
        out["type"] = body["type"].lower() if isinstance(body["type"], str) else body["type"]
    if "responder_id" in body:
        out["assignee_id"] = body["responder_id"]
    if "status" in body:
        out["status"] = _choice("status", body["status"], STATUS_NAME)
    if "priority" in body:
        out["priority"] = _choice("priority", body["priority"], PRIORITY_NAME)
    custom = body.get("custom_fields", {})
    if not isinstance(custom, dict):
        raise validation(
            (
                "custom_fields",
                "Value set is of type String.It should be a/an key/value pair",
                "datatype_mismatch",
            )
        )
    entries: list[dict[str, Any]] = []
    for name, value in custom.items():
        if name == REOPEN_FIELD:
            raise validation((name, "This field is read-only", "readonly_field"))
        if name not in CF_IDS:
            raise validation((name, "Unexpected/invalid field in request", "invalid_field"))
        entries.append({"id": CF_IDS[name], "value": value})
    current = ticket.custom if ticket is not None else {}
    deadlines = {k: current.get(fid) for k, fid in DEADLINES.items()}
    for key, fid in DEADLINES.items():
        if key in body:
            if body[key] is not None and parse_time(body[key]) is None:
                raise validation((key, "It should be in the 'valid date' format", "invalid_date"))
            deadlines[key] = body[key]
            entries.append({"id": fid, "value": body[key]})
    first, final = parse_time(deadlines["fr_due_by"]), parse_time(deadlines["due_by"])
    if first is not None and final is not None and final < first:
        raise validation(("due_by", "must be greater than or equal to fr_due_by", "invalid_value"))
    if entries:
        out["custom_fields"] = entries
    return out


def _as_validation(exc: ApiError) -> ApiError:
    """A store refusal (Zendesk-shaped 422) as Freshdesk's 400 Validation failed."""
    if exc.status != 422 or not isinstance(exc.body, dict):
        return exc
    details = exc.body.get("details") or {}
    errors = [
        (None if name == "base" else name, str(item.get("description")), "invalid_value")
        for name, items in details.items()
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    return validation(*(errors or [(None, "Record is invalid", "invalid_value")]))


def put_ticket(store: Store, ticket_id: int, body: Any, user: User) -> Ticket:
    """PUT /tickets/{id}: every field or none."""
    fields = _check_keys(body, UPDATABLE)
    with store.lock:
        ticket = store.ticket(ticket_id)
        payload = translate(store, ticket, fields)
        try:
            ticket, _ = update_ticket(store, ticket_id, payload, user)
        except ApiError as exc:
            raise _as_validation(exc) from None
        return ticket


def post_conversation(
    store: Store, ticket_id: int, body: Any, user: User, *, note: bool
) -> Comment:
    """POST /tickets/{id}/notes (private unless told otherwise) or /reply (public)."""
    if not isinstance(body, dict) or not str(body.get("body") or "").strip():
        raise validation(
            ("body", "It should not be blank as this is a mandatory field", "missing_field")
        )
    public = not note or body.get("private") is False
    try:
        return add_comment(store, ticket_id, user.id, text_of(str(body["body"])), public)
    except ApiError as exc:
        raise _as_validation(exc) from None


def post_ticket(store: Store, body: Any, user: User, custom_ids: tuple[int, ...]) -> Ticket:
    """POST /tickets: a ticket (a child one with `parent_id`); status and priority required."""
    fields = _check_keys(body, CREATABLE)
    missing = [k for k in ("subject", "description", "status", "priority") if k not in fields]
    if "email" not in fields and "requester_id" not in fields:
        missing.append("requester_id")
    if missing:
        raise validation(
            *(
                (k, "It should not be blank as this is a mandatory field", "missing_field")
                for k in missing
            )
        )
    parent = fields.get("parent_id")
    if parent is not None and parent not in store.tickets:
        raise validation(
            ("parent_id", "There is no ticket matching the given parent_id", "invalid_value")
        )
    payload = translate(store, None, fields)
    payload["comment"] = {"body": text_of(str(fields["description"])), "public": True}
    if "requester_id" in fields:
        payload["requester_id"] = fields["requester_id"]
    else:
        payload["requester"] = {"email": fields["email"]}
    try:
        ticket, _ = create_ticket(store, payload, user, custom_ids)
    except ApiError as exc:
        raise _as_validation(exc) from None
    return ticket
