"""Request Tracker payloads to the shared model. Pure functions: no I/O, no clock.

Shapes are REST 2 as captured from RT 5.0.3 (tests/fixtures/rt/): ticket searches with
`fields=` and nested `fields[Queue]`, `fields[Owner]`, `fields[Requestor]` (the requestor's
`Organization` and user custom fields come inside the search), custom fields as a list of
`{"name", "values": [...]}`, transactions with `Type`/`OldValue`/`NewValue`/`Creator`.
Scalars are strings in searches (`"id": "1"`, `"Priority": "30"`) and numbers elsewhere
(`/transaction/{id}`, nested `id`s): every reader takes both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any, Literal

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.payload import MalformedRecord as MalformedRecord
from esc_sync.connectors.payload import is_int
from esc_sync.connectors.payload import parse_time as parse_time
from esc_sync.connectors.supply import unsupplied_fields
from esc_sync.errors import HelpdeskError
from esc_sync.model import (
    CLOSED_STATUSES,
    COMMENT_FIELDS,
    MARKER_PREFIX,
    Comment,
    Organization,
    Person,
    Ticket,
)

# RT's default lifecycle; `[statuses]` in the profile adds custom lifecycle statuses.
STATUS_IN = {
    "new": "new",
    "open": "open",
    "stalled": "on_hold",
    "resolved": "solved",
    "rejected": "closed",
}
STATUS_OUT = {v: k for k, v in STATUS_IN.items()}
DELETED = "deleted"
NOBODY = "Nobody"
SYSTEM_USERS = frozenset({"RT_System", "Nobody"})
UNSET_DATE = "1970-01-01T00:00:00Z"  # RT's "not set"
# Known from the feed only after the history is read (load_comments).
HISTORY_FIELDS = COMMENT_FIELDS | {"description", "reopens"}
MESSAGE_TYPES = {"Create": True, "Correspond": True, "Comment": False}  # type -> public
_INT = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d*\.\d+|-?\d+\.\d*")
_TAG = re.compile(r"<[^>]+>")

Role = Literal["customer", "agent", "worker"]
RoleOf = Callable[[int | None, str | None, str], Role]


def num(value: Any) -> int | None:
    """An integer id or count given as a number or a string of digits."""
    if is_int(value):
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def ref_name(value: Any) -> str | None:
    """The name of a record reference: `Name` when fetched, else its `id` (users: the name)."""
    if isinstance(value, Mapping):
        name = value.get("Name")
        if isinstance(name, str) and name:
            return name
        value = value.get("id")
    return str(value) if isinstance(value, str | int) and str(value) else None


def rt_time(value: datetime) -> str:
    """A datetime as RT reads it in TicketSQL and date fields: `YYYY-MM-DD HH:MM:SS` UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def status_in(value: Any, profile: ConnectorProfile) -> str:
    """An RT status as a model status (custom lifecycle statuses through `[statuses]`)."""
    name = value.strip().lower() if isinstance(value, str) else None
    if name is not None and name in profile.status_names:
        return str(profile.status_names[name])
    if name is not None and name in STATUS_IN:
        return STATUS_IN[name]
    raise MalformedRecord(
        f"Status: unknown status {value!r} (map custom lifecycle statuses in [statuses])"
    )


def status_out(status: str, profile: ConnectorProfile) -> str:
    """A model status as an RT status (the profile's mapping first, then RT's defaults)."""
    for name, mapped in sorted(profile.status_names.items()):
        if mapped == status:
            return name
    if status in STATUS_OUT:
        return STATUS_OUT[status]
    raise HelpdeskError(f"status {status!r} has no RT status: map one in the profile [statuses]")


def priority_in(value: Any, profile: ConnectorProfile) -> str | None:
    """The level whose threshold is the highest one at or below RT's Priority."""
    number = num(value)
    if number is None:
        raise MalformedRecord(f"Priority: not a number: {value!r}")
    levels = [(t, lvl) for lvl, t in profile.priorities.items() if t <= number]
    return max(levels)[1] if levels else None


def priority_out(level: str, profile: ConnectorProfile) -> int:
    """The RT Priority written for a level: its threshold."""
    threshold = {str(k): v for k, v in profile.priorities.items()}.get(level)
    if threshold is None:
        raise HelpdeskError(f"priority {level!r} has no threshold in the profile [priorities]")
    return threshold


def cf_values(raw: Any, where: str = "CustomFields") -> dict[str, list[str]]:
    """`CustomFields` as name -> values (strings); DateTime values stay ISO strings."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, list):
        raise MalformedRecord(f"{where}: not a list")
    out: dict[str, list[str]] = {}
    for item in raw:
        name = item.get("name") if isinstance(item, Mapping) else None
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not isinstance(values, list):
            raise MalformedRecord(f"{where}: malformed entry {item!r}")
        out[name] = [str(v) for v in values if v is not None and not isinstance(v, dict)]
    return out


def custom_value(values: list[str] | None) -> Any:
    """A custom field for rules: None when empty, numbers parsed, several values as a list."""
    parsed = [_scalar(v) for v in values or []]
    if not parsed:
        return None
    return parsed[0] if len(parsed) == 1 else parsed


def _scalar(value: str) -> Any:
    """A number when the text is one, else the text."""
    text = value.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return value


def _cf(profile: ConnectorProfile, role: str, default: str | None = None) -> str | None:
    """The RT custom field name behind a profile role (`[fields]`)."""
    value = profile.fields.get(role, default)
    return None if value is None else str(value)


def normalize_ticket(raw: Mapping[str, Any], profile: ConnectorProfile) -> Ticket:
    """One searched RT ticket as a model Ticket; raises MalformedRecord naming the field."""
    if not isinstance(raw, Mapping):
        raise MalformedRecord("ticket is not an object")
    ticket_id = num(raw.get("id"))
    if ticket_id is None:
        raise MalformedRecord(f"id: missing or not a number: {raw.get('id')!r}")
    updated_raw = raw.get("LastUpdated")
    cfs = cf_values(raw.get("CustomFields"))
    queue = ref_name(raw.get("Queue"))
    owner = ref_name(raw.get("Owner"))
    tags = cfs.get(_cf(profile, "tags", "Tags") or "", [])
    task_cf = _cf(profile, "task_id")
    task_values = cfs.get(task_cf, []) if task_cf else []
    task_id = task_values[0] if task_values else None
    ticket = Ticket(
        id=ticket_id,
        subject=str(raw.get("Subject") or ""),
        status=status_in(raw.get("Status"), profile),
        priority=priority_in(raw.get("Priority", "0"), profile),
        tags=tuple(dict.fromkeys(tags)),
        group=queue,
        assignee=None if owner in (None, NOBODY) else owner,
        tier=profile.tier_of_group(queue),
        created_at=parse_time(raw.get("Created"), "Created"),
        updated_at=parse_time(updated_raw, "LastUpdated"),
        requester=_requester(raw.get("Requestor")),
        organization=_organization(raw.get("Requestor"), profile),
        satisfaction=_satisfaction(cfs, profile),
        custom={
            name: custom_value(cfs.get(str(cf))) for name, cf in profile.custom_field_names.items()
        },
        version=str(updated_raw),
        external_id=task_id or None,
        is_worker_task=bool(task_id),
        unknown=HISTORY_FIELDS,
    )
    ticket.mark_unsupplied(unsupplied_fields(profile))
    return ticket


def is_deleted(raw: Any) -> bool:
    """True for a ticket in RT's `deleted` status."""
    status = raw.get("Status") if isinstance(raw, Mapping) else None
    return isinstance(status, str) and status.lower() == DELETED


def _first_requestor(raw: Any) -> Mapping[str, Any] | None:
    """The first requestor (RT allows several; rules see the first)."""
    if isinstance(raw, list) and raw and isinstance(raw[0], Mapping):
        return raw[0]
    if raw not in (None, "", []) and not isinstance(raw, list):
        raise MalformedRecord(f"Requestor: not a list: {raw!r}")
    return None


def _requester(raw: Any) -> Person:
    """The requester: numeric id, real name and e-mail from the nested fields."""
    user = _first_requestor(raw)
    if user is None:
        return Person()
    email, real = user.get("EmailAddress"), user.get("RealName")
    return Person(
        id=num(user.get("id")),
        name=real if isinstance(real, str) and real else ref_name(user),
        email=email if isinstance(email, str) and email else None,
    )


def _organization(raw: Any, profile: ConnectorProfile) -> Organization:
    """The requester's `Organization`, tagged with the requester's customer-tags field."""
    user = _first_requestor(raw)
    if user is None:
        return Organization()
    org = user.get("Organization")
    tags_cf = _cf(profile, "organization_tags")
    tags = cf_values(user.get("CustomFields"), "Requestor.CustomFields").get(tags_cf or "", [])
    return Organization(
        name=org if isinstance(org, str) and org else None,
        tags=tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip())),
    )


def _satisfaction(cfs: Mapping[str, list[str]], profile: ConnectorProfile) -> str:
    """good / bad from the satisfaction field, else none."""
    cf = _cf(profile, "satisfaction")
    value = (cfs.get(cf) or [""])[0].strip().lower() if cf else ""
    return value if value in ("good", "bad") else "none"


@dataclass(frozen=True, slots=True)
class History:
    """What a ticket's transactions say: comments, description, reopens, latest transaction."""

    comments: list[Comment]
    description: str
    reopens: int
    last_id: int | None
    last_at: datetime | None


def read_history(
    txns: Iterable[Mapping[str, Any]],
    contents: Mapping[int, str],
    profile: ConnectorProfile,
    role_of: RoleOf,
    *,
    is_task: bool = False,
) -> History:
    """Comments (Create, Correspond, Comment), reopens (Status) and the latest transaction.

    The Create transaction is the customer's request even when an agent or the bot entered
    it for them (`Requestor` set); only a follow-up task's is the worker's.
    """
    comments: list[Comment] = []
    description, reopens = "", 0
    last_id: int | None = None
    last_at: datetime | None = None
    for txn in txns:
        txn_id = num(txn.get("id"))
        if txn_id is None:
            raise MalformedRecord(f"transaction id: not a number: {txn.get('id')!r}")
        created = parse_time(txn.get("Created"), f"transaction {txn_id} Created")
        if last_id is None or txn_id > last_id:
            last_id, last_at = txn_id, created
        kind = txn.get("Type")
        if kind == "Status" and _reopened(txn, profile):
            reopens += 1
        if kind not in MESSAGE_TYPES:
            continue
        body = contents.get(txn_id, "")
        creator = txn.get("Creator")
        author_id = num(creator.get("id")) if isinstance(creator, Mapping) else None
        if kind == "Create":  # the request itself, whoever typed it in (an agent, the bot)
            description = body
            role: Role = "worker" if is_task or MARKER_PREFIX in body else "customer"
        else:
            role = role_of(author_id, ref_name(creator), body)
        comments.append(
            Comment(
                id=txn_id,
                author_id=author_id,
                body=body,
                public=MESSAGE_TYPES[str(kind)],
                created_at=created,
                author_role=role,
            )
        )
    return History(comments, description, reopens, last_id, last_at)


def _reopened(txn: Mapping[str, Any], profile: ConnectorProfile) -> bool:
    """A status change from solved/closed back to an active status."""
    try:
        old = status_in(txn.get("OldValue"), profile)
        new = status_in(txn.get("NewValue"), profile)
    except MalformedRecord:
        return False  # deleted, or a status nobody mapped: not a reopen
    return old in CLOSED_STATUSES and new not in CLOSED_STATUSES


def attachment_text(items: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Each transaction's text: its first text/plain part, else its first text/html stripped."""
    plain: dict[int, str] = {}
    html: dict[int, str] = {}
    for item in items:
        txn_id = num(item.get("TransactionId"))
        content = item.get("Content")
        kind = str(item.get("ContentType") or "").lower()
        if txn_id is None or not isinstance(content, str) or not content.strip():
            continue
        if kind.startswith("text/plain"):
            plain.setdefault(txn_id, content.strip())
        elif kind.startswith("text/html"):
            html.setdefault(txn_id, unescape(_TAG.sub("", content)).strip())
    return {**html, **plain}
