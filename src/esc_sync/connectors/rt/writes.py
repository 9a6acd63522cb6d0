"""What the RT connector writes, and how it reads RT's answers to writes.

RT answers a ticket `PUT` with 200 and a list of human-readable messages even when a field was
refused (captured: `"Ticket 1: Queue No Such Queue does not exist"`, `"Ticket 1: That user does
not exist"`, `"Invalid value for custom field"`, `"Ticket 3: Permission Denied"`, `"Ticket 1:
Status 'bogus' isn't a valid status for this ticket."`). The rule, in `failures`:

1. A message of a known success shape is a success: a core field `changed from … to …`, a
   custom field we sent reported as `… added`, `… changed to …`, `… deleted`, `… added as a value
   for <cf>` or `… is no longer a value for custom field <cf>`.
2. Any other message containing a failure phrase (does not exist, invalid, illegal, isn't a
   valid, permission denied, no permission, couldn't, can't, not allowed, unresolved
   dependencies, …) is a failure.
3. Anything else is unknown: logged by the connector, not treated as a failure.

Success shapes are checked first because they echo values we sent (a tag `invalid-login` must
not read as a failure). A custom field name RT does not know is dropped without any message,
so the connector checks the names against the ticket before writing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.rt.normalize import (
    MalformedRecord,
    parse_time,
    priority_out,
    rt_time,
    status_out,
)
from esc_sync.errors import HelpdeskError
from esc_sync.model import TaskCreate, TicketUpdate

_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)
COMMENT_OK = "Comments added"
CORRESPOND_OK = "Correspondence added"
_CORE_CHANGED = re.compile(r"^Ticket \d+: \w+ changed from .* to .*$", re.DOTALL)
_FAILURE = re.compile(
    r"does not exist|doesn't exist|invalid|illegal|isn't a valid|is not a valid|"
    r"permission denied|no permission|not permitted|could ?n[o']t|can ?n[o']t|can't|"
    r"unable to|not allowed|unresolved dependencies|failed|must be|is required",
    re.IGNORECASE,
)


def cf_name(profile: ConnectorProfile, role: str) -> str:
    """The RT custom field behind a profile field name; an unmapped name is a config mistake."""
    try:
        return str(profile.fields[role])
    except KeyError:
        raise HelpdeskError(
            f"field {role!r} is not mapped in profile {profile.name or profile.path!r} [fields]"
        ) from None


def _cf_value(value: Any) -> Any:
    """A custom field value as RT takes it (datetimes as `YYYY-MM-DD HH:MM:SS` UTC).

    The planner hands deadlines over as ISO-8601 text (`2026-11-23T16:00:00Z`), which RT
    misreads (captured: stored as `2026-11-23T00:00:00Z`, the time lost), so such text is
    converted too.
    """
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value.strip()):
        try:
            return rt_time(parse_time(value.strip()))
        except MalformedRecord:
            return value
    if isinstance(value, datetime):
        return rt_time(value)
    if isinstance(value, list | tuple):
        return [_cf_value(v) for v in value]
    return value


def update_body(update: TicketUpdate, profile: ConnectorProfile) -> dict[str, Any]:
    """The body of the one ticket PUT, carrying only what is set.

    The Owner is left alone: a queue move keeps the owner, and RT itself resets it to Nobody
    when the owner may not own tickets in the new queue (RT::Ticket::SetQueue).
    """
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    if update.group is not None:
        body["Queue"] = str(update.group)
    if update.priority is not None:
        body["Priority"] = priority_out(update.priority, profile)
    if update.status is not None:
        body["Status"] = status_out(update.status, profile)
    if update.tags is not None:
        custom[cf_name(profile, "tags")] = list(update.tags)  # replaces the whole set
    for role, value in update.custom_fields.items():
        custom[cf_name(profile, role)] = _cf_value(value)
    if custom:
        body["CustomFields"] = custom
    return body


def task_body(task: TaskCreate, profile: ConnectorProfile, queue: str) -> dict[str, Any]:
    """A follow-up task: a child ticket (`Parent`) in the tier's queue carrying its id."""
    body: dict[str, Any] = {
        "Queue": queue,
        "Subject": task.title,
        "Content": task.body,
        "ContentType": "text/plain",
        "Parent": task.parent_ticket,
        "CustomFields": {cf_name(profile, "task_id"): task.external_id},
    }
    if task.due_at is not None:
        body["Due"] = rt_time(task.due_at)
    return body


def failures(messages: Iterable[Any], cf_names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The failure messages and the unrecognised ones of a PUT answer (see the module doc)."""
    names = [n for n in cf_names if n]
    failed: list[str] = []
    unknown: list[str] = []
    for raw in messages:
        text = str(raw).strip()
        if not text or _is_success(text, names):
            continue
        (failed if _FAILURE.search(text) else unknown).append(text)
    return failed, unknown


def _is_success(text: str, cf_names: list[str]) -> bool:
    """Whether a message has one of RT's success shapes for what we sent."""
    if _CORE_CHANGED.match(text):
        return True
    for name in cf_names:
        if text.endswith(
            (f" as a value for {name}", f" is no longer a value for custom field {name}")
        ):
            return True
        if text.startswith(f"{name} ") and (
            text.endswith((" added", " deleted")) or " changed to " in text
        ):
            return True
    return False


def check_messages(ticket_id: int, messages: Iterable[Any], body: Mapping[str, Any]) -> list[str]:
    """Raise HelpdeskError naming the ticket when RT refused part of a PUT; else the unknowns."""
    cfs = body.get("CustomFields")
    failed, unknown = failures(messages, cfs.keys() if isinstance(cfs, Mapping) else ())
    if failed:
        raise HelpdeskError(
            f"PUT /ticket/{{id}} (ticket {ticket_id}): RT refused part of the update: "
            + "; ".join(failed),
            status=200,
            ticket_id=ticket_id,
        )
    return unknown


def check_posted(ticket_id: int, kind: str, messages: Iterable[Any]) -> None:
    """A comment/correspond answers `["Comments added"]` / `["Correspondence added"]`."""
    expected = COMMENT_OK if kind == "comment" else CORRESPOND_OK
    texts = [str(m) for m in messages]
    if expected not in texts:
        raise HelpdeskError(
            f"POST /ticket/{{id}}/{kind} (ticket {ticket_id}): unexpected answer: "
            + ("; ".join(texts) or "(empty)"),
            ticket_id=ticket_id,
        )
