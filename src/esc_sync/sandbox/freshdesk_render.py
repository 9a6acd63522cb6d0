"""Stored objects rendered as Freshdesk API v2 JSON, shaped like the recorded Freshdesk payloads.

The store is the Zendesk-shaped seed; this module is the Freshdesk view of it: integer statuses
and priorities, `cf_*` custom fields, `fr_due_by`/`due_by`, conversations without the
description, `stats`, companies and satisfaction ratings.
"""

from __future__ import annotations

import html
import re
from typing import Any

from esc_sync.sandbox.render import iso
from esc_sync.sandbox.store import Comment, Organization, Store, Ticket, User

STATUS_CODE = {"new": 2, "open": 2, "pending": 3, "solved": 4, "closed": 5, "hold": 6}
STATUS_NAME = {2: "open", 3: "pending", 4: "solved", 5: "closed", 6: "hold"}
PRIORITY_CODE = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
PRIORITY_NAME = {v: k for k, v in PRIORITY_CODE.items()}
SOURCE_CODE = {"email": 1, "web": 2, "voice": 3, "chat": 7, "mobile": 8, "api": 2}
ESCALATION_STATUS, RESPOND_BY, RESOLVE_BY, REFUND = 360010001, 360010002, 360010003, 360010010
# Freshdesk custom fields (cf_*) over the store's custom field ids.
CF_IDS = {"cf_escalation_status": ESCALATION_STATUS, "cf_refund_amount": REFUND}
REOPEN_FIELD = "cf_reopen_count"  # kept by an automation in a real account; read-only here
DEADLINES = {"fr_due_by": RESPOND_BY, "due_by": RESOLVE_BY}
INCLUDES = ("description", "requester", "stats", "company")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"</(p|div|li|h\d)>|<br\s*/?>", re.IGNORECASE)


def text_of(body: str) -> str:
    """Plain text of an HTML body, as Freshdesk fills `body_text`."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", body))).strip()


def html_body(text: str) -> str:
    """An HTML body for stored plain text."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(
        "<div>" + "<br>".join(html.escape(x) for x in p.split("\n")) + "</div>" for p in paragraphs
    )


def parse_include(raw: str | None) -> set[str]:
    """The known embeds named in an `include=` parameter."""
    return {p.strip() for p in (raw or "").split(",")} & set(INCLUDES)


def _agent_replies(store: Store, ticket: Ticket) -> list[Comment]:
    """Public agent comments after the description."""
    return [c for c in ticket.comments[1:] if c.public and store.is_agent(c.author_id)]


def stats_json(store: Store, ticket: Ticket) -> dict[str, Any]:
    """The `stats` embed, derived from the comments and counters."""
    replies = _agent_replies(store, ticket)
    by_requester = [c for c in ticket.comments[1:] if c.author_id == ticket.requester_id]
    return {
        "agent_responded_at": iso(replies[-1].created_at) if replies else None,
        "requester_responded_at": iso(by_requester[-1].created_at) if by_requester else None,
        "first_responded_at": iso(replies[0].created_at) if replies else None,
        "status_updated_at": iso(ticket.status_updated_at or ticket.created_at),
        "reopened_at": iso(ticket.status_updated_at) if ticket.reopens else None,
        "resolved_at": iso(ticket.solved_at),
        "closed_at": iso(ticket.solved_at) if ticket.status == "closed" else None,
        "pending_since": iso(ticket.status_updated_at) if ticket.status == "pending" else None,
    }


def custom_fields_json(ticket: Ticket) -> dict[str, Any]:
    """The `custom_fields` object keyed by `cf_*` names."""
    out = {name: ticket.custom.get(fid) for name, fid in CF_IDS.items()}
    out[REOPEN_FIELD] = ticket.reopens
    return out


def ticket_json(
    store: Store,
    ticket: Ticket,
    include: set[str],
    *,
    listing: bool = False,
    parent_id: int | None = None,
    children: int = 0,
) -> dict[str, Any]:
    """A ticket as GET /tickets/{id} (or, with `listing`, as the list endpoint) shows it."""
    first = ticket.comments[0] if ticket.comments else None
    body: dict[str, Any] = {
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "ticket_cc_emails": [],
        "ticket_bcc_emails": [],
        "fr_escalated": False,
        "spam": False,
        "email_config_id": None,
        "group_id": ticket.group_id,
        "priority": PRIORITY_CODE.get(ticket.priority or "", 1),
        "requester_id": ticket.requester_id,
        "responder_id": ticket.assignee_id,
        "source": SOURCE_CODE.get(ticket.channel, 2),
        "company_id": ticket.organization_id,
        "status": STATUS_CODE[ticket.status],
        "subject": ticket.subject,
        "association_type": 2 if parent_id else (1 if children else None),
        "associated_tickets_count": children or None,
        "support_email": None,
        "to_emails": None,
        "product_id": None,
        "id": ticket.id,
        "type": ticket.type.capitalize() if ticket.type else None,
        "due_by": ticket.custom.get(RESOLVE_BY),
        "fr_due_by": ticket.custom.get(RESPOND_BY),
        "is_escalated": False,
        "custom_fields": custom_fields_json(ticket),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "tags": list(ticket.tags),
        "attachments": [],
        "form_id": 298,
        "nr_due_by": None,
        "nr_escalated": False,
    }
    if not listing or "description" in include:
        text = first.body if first else ""
        body["description"] = html_body(text)
        body["description_text"] = text
    if "stats" in include:
        body["stats"] = stats_json(store, ticket)
    requester = store.user(ticket.requester_id)
    if "requester" in include and requester is not None:
        body["requester"] = {
            "id": requester.id,
            "name": requester.name,
            "email": requester.email,
            "mobile": None,
            "phone": None,
        }
    org = store.organizations.get(ticket.organization_id or 0)
    if "company" in include and org is not None:
        body["company"] = {"id": org.id, "name": org.name}
    return body


def conversation_json(store: Store, ticket: Ticket, comment: Comment) -> dict[str, Any]:
    """A reply or note as GET /tickets/{id}/conversations shows it."""
    author = store.user(comment.author_id)
    incoming = author is None or not author.is_agent
    return {
        "body": html_body(comment.body),
        "body_text": comment.body,
        "id": comment.id,
        "incoming": incoming,
        "private": not comment.public,
        "user_id": comment.author_id,
        "support_email": None,
        "source": 2 if not comment.public else 0,
        "category": 2 if not comment.public else 3,
        "ticket_id": ticket.id,
        "to_emails": [] if not comment.public or incoming else [_email(store, ticket)],
        "from_email": None,
        "cc_emails": [],
        "bcc_emails": None,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.created_at),
        "attachments": [],
    }


def _email(store: Store, ticket: Ticket) -> str:
    """The requester's e-mail address."""
    user = store.user(ticket.requester_id)
    return user.email if user is not None else ""


def company_json(org: Organization) -> dict[str, Any]:
    """A company: tags as a `tags` custom field, the tier from them."""
    tier = "Enterprise" if "enterprise" in org.tags else "Premium" if "vip" in org.tags else "Basic"
    return {
        "id": org.id,
        "name": org.name,
        "description": None,
        "note": None,
        "domains": list(org.domain_names),
        "health_score": None,
        "account_tier": tier,
        "renewal_date": None,
        "industry": None,
        "custom_fields": {"tags": ", ".join(org.tags) or None},
        "created_at": iso(org.created_at),
        "updated_at": iso(org.created_at),
    }


def agent_json(user: User) -> dict[str, Any]:
    """GET /agents/me: the agent with its contact."""
    return {
        "id": user.id,
        "available": True,
        "occasional": False,
        "signature": None,
        "ticket_scope": 1,
        "group_ids": [],
        "role_ids": [],
        "type": "support_agent",
        "created_at": iso(user.created_at),
        "updated_at": iso(user.created_at),
        "contact": {
            "active": True,
            "email": user.email,
            "job_title": None,
            "language": "en",
            "mobile": None,
            "name": user.name,
            "phone": None,
            "time_zone": user.time_zone,
        },
    }


def ratings_json(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's satisfaction ratings (classic survey: 103 happy, -103 unhappy)."""
    rating = ticket.satisfaction
    if not rating or rating.get("score") not in ("good", "bad"):
        return []
    score = 103 if rating["score"] == "good" else -103
    at = iso(ticket.solved_at or ticket.updated_at)
    return [
        {
            "id": rating.get("id"),
            "survey_id": 5000000001,
            "user_id": ticket.requester_id,
            "agent_id": ticket.assignee_id,
            "feedback": rating.get("comment"),
            "group_id": ticket.group_id,
            "ticket_id": ticket.id,
            "ratings": {"default_question": score},
            "created_at": at,
            "updated_at": at,
        }
    ]


def contact_json(user: User) -> dict[str, Any]:
    """GET /contacts/{id}: a contact with its tags (Freshdesk keeps tags on contacts)."""
    return {
        "id": user.id,
        "active": True,
        "address": None,
        "company_id": user.organization_id,
        "description": None,
        "email": user.email,
        "job_title": None,
        "language": "en",
        "mobile": None,
        "name": user.name,
        "phone": None,
        "time_zone": user.time_zone,
        "tags": list(user.tags),
        "other_emails": [],
        "custom_fields": {},
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at or user.created_at),
    }
