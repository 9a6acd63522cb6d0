"""The Freshdesk API v2 subset over the shared store, and the gateway that speaks it.

- auth: HTTP Basic with the API key as user name and any password (`X` by convention);
- `GET /tickets`: bare array, `Link: <…>; rel="next"` while more pages exist, at most 300 pages
  (page 301 is a 400), `per_page` ≤ 100, and only tickets created in the last 30 days when
  `updated_since` is missing;
- rate limits in credits: `X-RateLimit-Total/Remaining/Used-CurrentRequest`, each `include`
  costs one more credit, 429 with `Retry-After` when the minute's budget is spent.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from esc_sync.sandbox.errors import ApiError
from esc_sync.sandbox.faults import Fault, RateLimit
from esc_sync.sandbox.freshdesk_render import (
    agent_json,
    company_json,
    contact_json,
    conversation_json,
    parse_include,
    ratings_json,
    ticket_json,
)
from esc_sync.sandbox.freshdesk_writes import post_conversation, post_ticket, put_ticket, validation
from esc_sync.sandbox.gateway import Gateway
from esc_sync.sandbox.store import Store, Ticket, User
from esc_sync.sandbox.wire import Reply, Request
from esc_sync.sandbox.writes import parse_time

log = logging.getLogger(__name__)

MAX_PAGE = 300
CONTACTS_LIST_LIMIT = 20
NOT_FOUND = {"code": "not_found", "message": "Resource not found"}  # body shape: §B7 (G)
UNAUTHENTICATED = {
    "code": "invalid_credentials",
    "message": "You have to be logged in to perform this action.",
}
RATE_LIMITED = {"code": "rate_limit_exceeded", "message": "API rate limit exceeded."}
BEYOND_300 = validation(
    (
        "page",
        "You cannot access tickets beyond the 300th page. Please provide a smaller page number.",
        "invalid_value",
    )
)


@dataclass(slots=True)
class FdContext:
    """What a handler needs: the store, the caller, the base URL and the parent links."""

    store: Store
    user: User
    base: str
    parents: dict[int, int]  # child ticket id -> parent ticket id
    custom_ids: tuple[int, ...]


FdHandler = Callable[[FdContext, Request, tuple[str, ...]], Reply]


def _ticket(ctx: FdContext, ticket_id: int) -> Ticket:
    """The ticket, or Freshdesk's 404."""
    found = ctx.store.tickets.get(ticket_id)
    if found is None:
        raise ApiError(404, NOT_FOUND)
    return found


def _render(ctx: FdContext, ticket: Ticket, include: set[str], listing: bool = False) -> Any:
    """A ticket with its association (parent or children) shown."""
    children = sum(1 for parent in ctx.parents.values() if parent == ticket.id)
    return ticket_json(
        ctx.store,
        ticket,
        include,
        listing=listing,
        parent_id=ctx.parents.get(ticket.id),
        children=children,
    )


def me(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /agents/me."""
    return Reply(200, agent_json(ctx.user))


def list_tickets(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets: filtered by updated_since (or created in 30 days), ordered, paginated."""
    q = req.query
    page = _int(q, "page", 1)
    per_page = _int(q, "per_page", 30)
    if per_page < 1 or per_page > 100:
        raise validation(("per_page", "Has to be a positive number up to 100", "invalid_value"))
    if page < 1:
        raise validation(("page", "It should be a Positive Number", "invalid_value"))
    if page > MAX_PAGE:
        raise BEYOND_300
    order_by = q.get("order_by", "created_at")
    if order_by not in ("created_at", "updated_at", "due_by", "status"):
        raise validation(
            (
                "order_by",
                "It should be one of these values: 'created_at,due_by,updated_at,status'",
                "invalid_value",
            )
        )
    with ctx.store.lock:
        tickets = list(ctx.store.tickets.values())
        if "updated_since" in q:
            since = parse_time(q["updated_since"])
            if since is None:
                raise validation(
                    (
                        "updated_since",
                        "It should be in the 'valid date time' format",
                        "invalid_date",
                    )
                )
            tickets = [t for t in tickets if t.updated_at >= since]
        else:
            floor = ctx.store.now() - timedelta(days=30)
            tickets = [t for t in tickets if t.created_at >= floor]
        key: Callable[[Ticket], Any] = {
            "created_at": lambda t: (t.created_at, t.id),
            "updated_at": lambda t: (t.updated_at, t.id),
            "due_by": lambda t: (str(t.custom.get(360010003) or ""), t.id),
            "status": lambda t: (t.status, t.id),
        }[order_by]
        tickets.sort(key=key, reverse=q.get("order_type", "desc") != "asc")
        chunk = tickets[(page - 1) * per_page : page * per_page]
        include = parse_include(q.get("include"))
        body = [_render(ctx, t, include, listing=True) for t in chunk]
    headers = {}
    if page * per_page < len(tickets):
        nxt = {**q, "page": str(page + 1)}
        headers["Link"] = f'<{ctx.base}/api/v2/tickets?{urlencode(nxt)}>; rel="next"'
    return Reply(200, body, headers)


def _int(query: dict[str, str], name: str, default: int) -> int:
    """An integer query parameter (400 when it is not one)."""
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise validation(
            (name, "It should be a/an Positive Integer", "datatype_mismatch")
        ) from None


def show_ticket(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id} with optional embeds."""
    with ctx.store.lock:
        ticket = _ticket(ctx, int(args[0]))
        return Reply(200, _render(ctx, ticket, parse_include(req.query.get("include"))))


def conversations(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id}/conversations: replies and notes (not the description), oldest first."""
    page, per_page = _int(req.query, "page", 1), min(100, max(1, _int(req.query, "per_page", 30)))
    with ctx.store.lock:
        ticket = _ticket(ctx, int(args[0]))
        items = ticket.comments[1:]
        chunk = items[(page - 1) * per_page : page * per_page]
        body = [conversation_json(ctx.store, ticket, c) for c in chunk]
    headers = {}
    if page * per_page < len(items):
        query = urlencode({"per_page": per_page, "page": page + 1})
        headers["Link"] = (
            f'<{ctx.base}/api/v2/tickets/{ticket.id}/conversations?{query}>; rel="next"'
        )
    return Reply(200, body, headers)


def satisfaction(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id}/satisfaction_ratings."""
    with ctx.store.lock:
        return Reply(200, ratings_json(_ticket(ctx, int(args[0]))))


def show_contact(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /contacts/{id}: end users only (agents are not contacts here)."""
    user = ctx.store.users.get(int(args[0]))
    if user is None or user.is_agent:
        raise ApiError(404, NOT_FOUND)
    return Reply(200, contact_json(user))


def _listing(
    ctx: FdContext, req: Request, path: str, items: list[Any], per_page: int, page: int
) -> Reply:
    """One page of a listing, with `Link: rel="next"` while more pages exist."""
    body = items[(page - 1) * per_page : page * per_page]
    headers = {}
    if page * per_page < len(items):
        nxt = {**req.query, "page": str(page + 1)}
        headers["Link"] = f'<{ctx.base}/api/v2/{path}?{urlencode(nxt)}>; rel="next"'
    return Reply(200, body, headers)


def _since(req: Request, name: str) -> Any:
    """A time filter of a listing (400 when unreadable; None when absent)."""
    raw = req.query.get(name)
    if raw is None:
        return None
    since = parse_time(raw)
    if since is None:
        raise validation((name, "It should be in the 'valid date time' format", "invalid_date"))
    return since


def list_contacts(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /contacts: end users, `_updated_since` filter, oldest change first, paginated."""
    page = _int(req.query, "page", 1)
    per_page = min(100, max(1, _int(req.query, "per_page", 30)))
    since = _since(req, "_updated_since")
    with ctx.store.lock:
        users = [u for u in ctx.store.users.values() if not u.is_agent]
        if since is not None:
            users = [u for u in users if (u.updated_at or u.created_at) >= since]
        users.sort(key=lambda u: (u.updated_at or u.created_at, u.id))
        items = [contact_json(u) for u in users]
    return _listing(ctx, req, "contacts", items, per_page, page)


def list_ratings(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /surveys/satisfaction_ratings: every ticket's ratings, `created_since` filter."""
    page = _int(req.query, "page", 1)
    per_page = min(100, max(1, _int(req.query, "per_page", 30)))
    since = _since(req, "created_since")
    with ctx.store.lock:
        items = [r for t in ctx.store.tickets.values() for r in ratings_json(t)]
    if since is not None:
        items = [r for r in items if (parse_time(r["created_at"]) or since) >= since]
    items.sort(key=lambda r: (r["created_at"], r["id"] or 0))
    return _listing(ctx, req, "surveys/satisfaction_ratings", items, per_page, page)


def associated(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id}/associated_tickets: the child tickets, as ticket objects."""
    with ctx.store.lock:
        parent = _ticket(ctx, int(args[0]))
        kids = sorted(c for c, p in ctx.parents.items() if p == parent.id)
        return Reply(200, [_render(ctx, ctx.store.tickets[k], set()) for k in kids])


def show_company(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /companies/{id}."""
    org = ctx.store.organizations.get(int(args[0]))
    if org is None:
        raise ApiError(404, NOT_FOUND)
    return Reply(200, company_json(org))


def update(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """PUT /tickets/{id}: flat body, 200 with the ticket."""
    _ticket(ctx, int(args[0]))
    ticket = put_ticket(ctx.store, int(args[0]), req.json(), ctx.user)
    with ctx.store.lock:
        return Reply(200, _render(ctx, ticket, set()))


def note(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """POST /tickets/{id}/notes: 201 with the conversation."""
    return _conversation(ctx, req, int(args[0]), note=True)


def reply(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """POST /tickets/{id}/reply: 201 with the conversation."""
    return _conversation(ctx, req, int(args[0]), note=False)


def _conversation(ctx: FdContext, req: Request, ticket_id: int, *, note: bool) -> Reply:
    """Add a note or a reply."""
    ticket = _ticket(ctx, ticket_id)
    comment = post_conversation(ctx.store, ticket_id, req.json(), ctx.user, note=note)
    return Reply(201, conversation_json(ctx.store, ticket, comment))


def create(ctx: FdContext, req: Request, args: tuple[str, ...]) -> Reply:
    """POST /tickets: 201 with the ticket; `parent_id` links a child ticket."""
    body = req.json()
    with ctx.store.lock:
        ticket = post_ticket(ctx.store, body, ctx.user, ctx.custom_ids)
        if isinstance(body, dict) and isinstance(body.get("parent_id"), int):
            ctx.parents[ticket.id] = body["parent_id"]
        return Reply(201, _render(ctx, ticket, set()))


ROUTES: list[tuple[str, re.Pattern[str], FdHandler]] = [
    (method, re.compile(rf"^/api/v2/{pattern}$"), handler)
    for method, pattern, handler in (
        ("GET", r"agents/me", me),
        ("GET", r"tickets", list_tickets),
        ("POST", r"tickets", create),
        ("GET", r"tickets/(\d+)", show_ticket),
        ("PUT", r"tickets/(\d+)", update),
        ("GET", r"tickets/(\d+)/conversations", conversations),
        ("POST", r"tickets/(\d+)/notes", note),
        ("POST", r"tickets/(\d+)/reply", reply),
        ("GET", r"tickets/(\d+)/satisfaction_ratings", satisfaction),
        ("GET", r"tickets/(\d+)/associated_tickets", associated),
        ("GET", r"companies/(\d+)", show_company),
        ("GET", r"contacts", list_contacts),
        ("GET", r"contacts/(\d+)", show_contact),
        ("GET", r"surveys/satisfaction_ratings", list_ratings),
    )
]


def route(method: str, path: str) -> tuple[FdHandler, tuple[str, ...]]:
    """The handler for a request, or a 404."""
    clean = path.rstrip("/")
    for verb, pattern, handler in ROUTES:
        found = pattern.match(clean)
        if found and verb == method:
            return handler, found.groups()
    raise ApiError(404, NOT_FOUND)


class FreshdeskGateway(Gateway):
    """The front door in the Freshdesk dialect: API-key auth, credits, Freshdesk bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A gateway over the store, with no parent-child links yet."""
        super().__init__(*args, **kwargs)
        self.parents: dict[int, int] = {}
        # Contacts List has its own per-minute limit besides the account's (§B6: 20 on Growth)
        self.contacts_list = RateLimit(CONTACTS_LIST_LIMIT)

    def _answer(self, req: Request, fault: Fault | None) -> Reply:
        """Faults as Freshdesk shows them (a 429 carries its rate headers)."""
        if fault is not None and fault.kind == "429":
            return Reply(429, RATE_LIMITED, {"Retry-After": "1"} | self._credits_headers(0))
        return super()._answer(req, fault)

    def _process(self, req: Request) -> Reply:
        """Authenticate, spend credits, route and run the handler; errors become replies."""
        cost = 1 + len(parse_include(req.query.get("include")))
        try:
            user = self._authenticate(req)
            for _ in range(cost):
                self.account.spend(RATE_LIMITED)
            if req.method == "GET" and req.path.rstrip("/") == "/api/v2/contacts":
                self.contacts_list.spend(RATE_LIMITED)
            handler, args = route(req.method, req.path)
            ctx = FdContext(self.store, user, self.base, self.parents, self.custom_ids)
            reply = handler(ctx, req, args)
        except ApiError as exc:
            reply = Reply(exc.status, exc.body, dict(exc.headers))
        except Exception:  # a sandbox bug must not kill the server thread
            log.exception("sandbox handler failed for %s %s", req.method, req.path)
            reply = Reply(500, {"code": "internal_error", "message": "Sandbox handler failed"})
        reply.headers.update(self._credits_headers(cost))
        return reply

    def _authenticate(self, req: Request) -> User:
        """The bot, when the Basic user name is the API key (the password is ignored)."""
        header = next((v for k, v in req.headers.items() if k.lower() == "authorization"), "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if decoded.partition(":")[0] == self.token:
                return self.store.users[self.store.bot_id]
        raise ApiError(401, UNAUTHENTICATED)

    def _credits_headers(self, used: int) -> dict[str, str]:
        """Freshdesk's rate-limit headers."""
        return {
            "X-RateLimit-Total": str(self.account.limit),
            "X-RateLimit-Remaining": str(self.account.remaining()),
            "X-RateLimit-Used-CurrentRequest": str(used),
            "X-Freshdesk-API-Version": "latest=v2; requested=v2",
        }
