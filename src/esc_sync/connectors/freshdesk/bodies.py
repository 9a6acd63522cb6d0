"""Request bodies the Freshdesk connector sends: flat objects, no envelope (§B1, §B4, §B5).

The worker's write-back roles `respond_by` / `resolve_by` go wherever the profile maps them:
to Freshdesk's own `fr_due_by` / `due_by` (the example profile) or to `cf_*` custom fields.
Freshdesk refuses `due_by` earlier than `fr_due_by`, so the pair is kept in order here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.freshdesk.normalize import (
    DEADLINE_FIELDS,
    PRIORITY_OUT,
    TASK_TAG,
    format_time,
    opt_time,
    status_out,
    text_to_html,
)
from esc_sync.connectors.payload import field_value as _field_value
from esc_sync.connectors.payload import id_value as _id_value
from esc_sync.errors import HelpdeskError
from esc_sync.model import TaskCreate, TicketUpdate


def _field_key(name: str, profile: ConnectorProfile) -> str:
    """The Freshdesk field a profile field name maps to; an unknown name is a config mistake."""
    try:
        return str(profile.fields[name])
    except KeyError:
        raise HelpdeskError(
            f"custom field {name!r} is not mapped in profile {profile.name or profile.path!r} "
            "[fields]"
        ) from None


def update_body(
    update: TicketUpdate, profile: ConnectorProfile, current: Mapping[str, Any]
) -> dict[str, Any]:
    """The flat body of the ticket PUT, carrying only the fields that are set.

    `current` is the ticket as just re-read; it keeps `due_by >= fr_due_by` when only one of
    the two deadlines is written.
    """
    body: dict[str, Any] = {}
    if update.tags is not None:
        body["tags"] = list(update.tags)
    if update.group is not None:
        body["group_id"] = _id_value(update.group)
    if update.priority is not None:
        body["priority"] = PRIORITY_OUT[update.priority]
    if update.status is not None:
        body["status"] = status_out(update.status, profile)
    custom: dict[str, Any] = {}
    for name, value in update.custom_fields.items():
        key = _field_key(name, profile)
        if key in DEADLINE_FIELDS:
            body[key] = _field_value(value)
        else:
            custom[key] = _field_value(value)
    if custom:
        body["custom_fields"] = custom
    _order_deadlines(body, current)
    return body


def _order_deadlines(body: dict[str, Any], current: Mapping[str, Any]) -> None:
    """Keep `due_by >= fr_due_by` across what is written and what the ticket already has."""
    if not any(k in body for k in DEADLINE_FIELDS):
        return
    try:
        first = opt_time(body.get("fr_due_by", current.get("fr_due_by")), "fr_due_by")
        final = opt_time(body.get("due_by", current.get("due_by")), "due_by")
    except ValueError:
        return
    if first is None or final is None or final >= first:
        return
    if "due_by" in body and "fr_due_by" not in body:
        body["fr_due_by"] = body["due_by"]  # the response cannot be due after the resolution
    else:
        body["due_by"] = body["fr_due_by"]


def note_body(text: str) -> dict[str, Any]:
    """A private note (`POST /tickets/{id}/notes`); the body carries the worker's markers."""
    return {"body": text_to_html(text), "private": True}


def reply_body(text: str) -> dict[str, Any]:
    """A public reply to the requester (`POST /tickets/{id}/reply`)."""
    return {"body": text_to_html(text)}


def task_body(
    task: TaskCreate, requester_email: str | None, requester_id: int | None
) -> dict[str, Any]:
    """A follow-up task as a child ticket (`parent_id`), tagged and carrying its external id."""
    body: dict[str, Any] = {
        "subject": task.title,
        "description": text_to_html(task.body),
        "status": 2,
        "priority": 2,
        "parent_id": task.parent_ticket,
        "tags": [TASK_TAG],
    }
    if requester_email:
        body["email"] = requester_email
    elif requester_id is not None:
        body["requester_id"] = requester_id
    if task.due_at is not None:
        due = format_time(task.due_at)
        body["fr_due_by"] = due
        body["due_by"] = due
    if task.group is not None:
        body["group_id"] = _id_value(task.group)
    return body
