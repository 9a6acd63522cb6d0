"""Stored objects rendered as Zendesk JSON, shaped like the recorded payloads in the fixtures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from esc_sync.sandbox.store import Comment, Group, Organization, Store, Ticket, User

BRAND_ID = 360002256672
FORM_ID = 360000389592
SUPPORT_ADDRESS = "support@sandbox.test"
# Zendesk's custom status ids, one per status category (custom statuses are not modelled).
CUSTOM_STATUS = {
    "new": 12480498776701,
    "open": 12480498776702,
    "pending": 12480498776703,
    "hold": 12480498776704,
    "solved": 12480498776705,
    "closed": 12480498776706,
}
SIDELOADS = ("users", "organizations", "groups", "metric_sets")


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z and second precision, as Zendesk writes timestamps."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes(start: datetime | None, end: datetime | None) -> dict[str, int | None]:
    """A metric set duration pair (no business schedule is configured, so both agree)."""
    value = None if start is None or end is None else int((end - start).total_seconds() // 60)
    return {"calendar": value, "business": value}


def via(channel: str, user: User | None = None) -> dict[str, Any]:
    """The via object of a ticket or comment."""
    if channel == "email" and user is not None:
        source = {
            "from": {"address": user.email, "name": user.name},
            "to": {"name": "Sandbox Support", "address": SUPPORT_ADDRESS},
            "rel": None,
        }
    else:
        source = {"from": {}, "to": {}, "rel": None}
    return {"channel": channel, "source": source}


def ticket_json(
    store: Store, ticket: Ticket, base: str, *, generated: bool = False
) -> dict[str, Any]:
    """A ticket as GET /tickets/{id} shows it (plus generated_timestamp in exports)."""
    requester = store.user(ticket.requester_id)
    fields = [{"id": fid, "value": value} for fid, value in ticket.custom.items()]
    first = ticket.comments[0].body if ticket.comments else ""
    body: dict[str, Any] = {
        "url": f"{base}/api/v2/tickets/{ticket.id}.json",
        "id": ticket.id,
        "external_id": ticket.external_id,
        "via": via(ticket.channel, requester),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "type": ticket.type,
        "subject": ticket.subject,
        "raw_subject": ticket.subject,
        "description": first,
        "priority": ticket.priority,
        "status": ticket.status,
        "custom_status_id": CUSTOM_STATUS[ticket.status],
        "recipient": SUPPORT_ADDRESS if ticket.channel == "email" else None,
        "requester_id": ticket.requester_id,
        "submitter_id": ticket.submitter_id,
        "assignee_id": ticket.assignee_id,
        "organization_id": ticket.organization_id,
        "group_id": ticket.group_id,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": any(c.public for c in ticket.comments),
        "due_at": iso(ticket.due_at),
        "tags": list(ticket.tags),
        "custom_fields": fields,
        "satisfaction_rating": dict(ticket.satisfaction) if ticket.satisfaction else None,
        "sharing_agreement_ids": [],
        "fields": [dict(f) for f in fields],
        "followup_ids": [],
        "ticket_form_id": FORM_ID,
        "brand_id": BRAND_ID,
        "satisfaction_probability": None,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }
    if generated:
        body["generated_timestamp"] = ticket.generated_timestamp
    return body


def comment_json(store: Store, comment: Comment) -> dict[str, Any]:
    """A comment as GET /tickets/{id}/comments shows it."""
    return {
        "id": comment.id,
        "type": "Comment",
        "author_id": comment.author_id,
        "body": comment.body,
        "html_body": comment.html_body,
        "plain_body": comment.body,
        "public": comment.public,
        "attachments": [],
        "audit_id": comment.audit_id,
        "via": via(comment.channel, store.user(comment.author_id)),
        "metadata": {"system": {"client": "sandbox", "ip_address": "127.0.0.1"}, "custom": {}},
        "created_at": iso(comment.created_at),
    }


def user_json(user: User, base: str) -> dict[str, Any]:
    """A user object."""
    return {
        "id": user.id,
        "url": f"{base}/api/v2/users/{user.id}.json",
        "name": user.name,
        "email": user.email,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.created_at),
        "time_zone": user.time_zone,
        "iana_time_zone": "America/New_York",
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": user.organization_id,
        "role": user.role,
        "verified": True,
        "external_id": None,
        "tags": list(user.tags),
        "alias": "",
        "active": True,
        "shared": False,
        "shared_agent": False,
        "last_login_at": None,
        "two_factor_auth_enabled": None,
        "signature": None,
        "details": "",
        "notes": "",
        "role_type": None,
        "custom_role_id": None,
        "moderator": user.role == "admin",
        "ticket_restriction": None if user.is_agent else "requested",
        "only_private_comments": False,
        "restricted_agent": False,
        "suspended": False,
        "default_group_id": user.default_group_id,
        "report_csv": user.role == "admin",
        "user_fields": {},
    }


def organization_json(org: Organization, base: str) -> dict[str, Any]:
    """An organization object, as in the recorded cursor page."""
    return {
        "url": f"{base}/api/v2/organizations/{org.id}.json",
        "id": org.id,
        "name": org.name,
        "shared_tickets": False,
        "shared_comments": False,
        "external_id": None,
        "created_at": iso(org.created_at),
        "updated_at": iso(org.created_at),
        "domain_names": list(org.domain_names),
        "details": None,
        "notes": None,
        "group_id": None,
        "tags": list(org.tags),
        "organization_fields": {},
    }


def group_json(group: Group, base: str) -> dict[str, Any]:
    """A group object."""
    return {
        "url": f"{base}/api/v2/groups/{group.id}.json",
        "id": group.id,
        "is_public": True,
        "name": group.name,
        "description": group.description,
        "default": False,
        "deleted": False,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.created_at),
    }


def metric_set_json(store: Store, ticket: Ticket, base: str) -> dict[str, Any]:
    """The ticket's metric set, derived from its comments and counters."""
    later = ticket.comments[1:]
    replies = [c for c in later if c.public and store.is_agent(c.author_id)]
    by_requester = [c for c in ticket.comments if c.author_id == ticket.requester_id]
    by_assignee = [c for c in ticket.comments if c.author_id == ticket.assignee_id]
    first_reply = replies[0].created_at if replies else None
    solved = ticket.solved_at
    return {
        "url": f"{base}/api/v2/ticket_metrics/{ticket.id + 900_000_000}.json",
        "id": ticket.id + 900_000_000,
        "ticket_id": ticket.id,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "group_stations": ticket.group_stations,
        "assignee_stations": ticket.assignee_stations,
        "reopens": ticket.reopens,
        "replies": len(replies),
        "assignee_updated_at": iso(by_assignee[-1].created_at) if by_assignee else None,
        "requester_updated_at": iso(by_requester[-1].created_at) if by_requester else None,
        "status_updated_at": iso(ticket.status_updated_at or ticket.created_at),
        "initially_assigned_at": iso(ticket.initially_assigned_at),
        "assigned_at": iso(ticket.assigned_at),
        "solved_at": iso(solved),
        "latest_comment_added_at": iso(ticket.comments[-1].created_at) if ticket.comments else None,
        "custom_status_updated_at": iso(ticket.status_updated_at or ticket.created_at),
        "reply_time_in_minutes": minutes(ticket.created_at, first_reply),
        "first_resolution_time_in_minutes": minutes(ticket.created_at, solved),
        "full_resolution_time_in_minutes": minutes(ticket.created_at, solved),
        "agent_wait_time_in_minutes": {"calendar": None, "business": None},
        "requester_wait_time_in_minutes": {"calendar": None, "business": None},
        "on_hold_time_in_minutes": {"calendar": 0, "business": 0},
    }


def parse_include(raw: str | None) -> set[str]:
    """The known side-loads named in an `include=` parameter."""
    names = {part.strip() for part in (raw or "").split(",")}
    return names & set(SIDELOADS)


def sideloads(
    store: Store, tickets: Iterable[Ticket], include: set[str], base: str
) -> dict[str, list[dict[str, Any]]]:
    """The side-load arrays for these tickets (only those asked for)."""
    tickets = list(tickets)
    out: dict[str, list[dict[str, Any]]] = {}
    if "users" in include:
        ids = {uid for t in tickets for uid in (t.requester_id, t.submitter_id, t.assignee_id)}
        users = [store.users[uid] for uid in sorted(i for i in ids if i in store.users)]
        out["users"] = [user_json(u, base) for u in users]
    if "organizations" in include:
        ids = {t.organization_id for t in tickets if t.organization_id in store.organizations}
        out["organizations"] = [
            organization_json(store.organizations[oid], base) for oid in sorted(i for i in ids if i)
        ]
    if "groups" in include:
        ids = {t.group_id for t in tickets if t.group_id in store.groups}
        out["groups"] = [group_json(store.groups[gid], base) for gid in sorted(i for i in ids if i)]
    if "metric_sets" in include:
        out["metric_sets"] = [metric_set_json(store, t, base) for t in tickets]
    return out
