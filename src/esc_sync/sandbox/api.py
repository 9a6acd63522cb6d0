"""The Zendesk API subset: one small function per endpoint, routed by method and path."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from esc_sync.sandbox.errors import (
    INVALID_ENDPOINT,
    TOO_MANY_VALUES,
    TOO_RECENT_START,
    ApiError,
    invalid_json,
    invalid_value,
    not_found,
)
from esc_sync.sandbox.events import EventIndex, ticket_events
from esc_sync.sandbox.jobs import JobBook
from esc_sync.sandbox.render import (
    comment_json,
    group_json,
    organization_json,
    parse_include,
    sideloads,
    ticket_json,
    user_json,
)
from esc_sync.sandbox.store import Store, User, to_us
from esc_sync.sandbox.wire import Reply, Request
from esc_sync.sandbox.writes import create_ticket, ticket_payload, update_ticket

_CURSOR = re.compile(r"^(\d+)\.(\d{1,6})\|\|(\d+)\|$")
_NO_CAP = 2**63


@dataclass(slots=True)
class Context:
    """What a handler needs besides the request: the store, who is calling, and settings."""

    store: Store
    user: User
    base: str
    recent_window: int
    custom_ids: tuple[int, ...]
    events: EventIndex | None = None  # the ticket-event export's sorted index, kept per server
    jobs: JobBook | None = None  # the bulk jobs, kept per server


Handler = Callable[[Context, Request, tuple[str, ...]], Reply]


def encode_cursor(gen_us: int, ticket_id: int) -> str:
    """Zendesk's export cursor: base64 of `<generated_timestamp>.<fraction>||<ticket id>|`."""
    whole, frac = divmod(gen_us, 1_000_000)
    fraction = f"{frac:06d}".rstrip("0") or "0"
    return base64.b64encode(f"{whole}.{fraction}||{ticket_id}|".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (gen_us, ticket id) position a cursor points at; 400 when it is not one of ours."""
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found = _CURSOR.match(text)
    if found is None:
        raise invalid_value("Invalid cursor")
    whole, frac, ticket_id = found.groups()
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0")), int(ticket_id)


def me(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /users/me: the API user."""
    return Reply(200, {"user": user_json(ctx.user, ctx.base)})


def show_user(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /users/{id}."""
    user = ctx.store.user(int(args[0]))
    if user is None:
        raise not_found()
    return Reply(200, {"user": user_json(user, ctx.base)})


def show_organization(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /organizations/{id}."""
    org = ctx.store.organizations.get(int(args[0]))
    if org is None:
        raise not_found()
    return Reply(200, {"organization": organization_json(org, ctx.base)})


def list_groups(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /groups."""
    groups = [
        group_json(g, ctx.base) for g in sorted(ctx.store.groups.values(), key=lambda g: g.id)
    ]
    return Reply(
        200, {"groups": groups, "next_page": None, "previous_page": None, "count": len(groups)}
    )


def export(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /incremental/tickets/cursor: tickets ordered by (generated_timestamp, id)."""
    per_page = req.integer("per_page", 1000, 1, 1000)
    include = parse_include(req.query.get("include"))
    now = ctx.store.now()
    if req.query.get("cursor"):
        position = decode_cursor(req.query["cursor"])
    elif req.query.get("start_time"):
        try:
            start = int(req.query["start_time"])
        except ValueError:
            raise invalid_value("start_time must be a unix timestamp") from None
        if start > now.timestamp():
            raise ApiError(422, TOO_RECENT_START)
        position = (max(start, 0) * 1_000_000, 0)  # (start, id 0): every ticket at >= start
    else:
        raise invalid_value("Either start_time or cursor is required")
    cap = to_us(now - timedelta(seconds=ctx.recent_window)) if ctx.recent_window > 0 else _NO_CAP
    with ctx.store.lock:
        tickets, more = ctx.store.changed_after(position, cap, per_page)
        last = (tickets[-1].gen_us, tickets[-1].id) if tickets else position
        cursor = encode_cursor(*last)
        extra = {k: req.query[k] for k in ("per_page", "include") if req.query.get(k)}
        after_url = (
            f"{ctx.base}/api/v2/incremental/tickets/cursor.json?cursor={quote(cursor, safe='')}"
        )
        if extra:
            after_url += "&" + urlencode(extra)
        body: dict[str, Any] = {
            "tickets": [ticket_json(ctx.store, t, ctx.base, generated=True) for t in tickets],
            "after_url": after_url,
            "after_cursor": cursor,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": not more,
        }
        body |= sideloads(ctx.store, tickets, include, ctx.base)
    return Reply(200, body)


def export_events(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /incremental/ticket_events (time-based; `include=comment_events` for comment text)."""
    index = ctx.events if ctx.events is not None else EventIndex()
    return ticket_events(ctx.store, index, req, ctx.base, ctx.recent_window)


def show_ticket(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id} with optional side-loads."""
    with ctx.store.lock:
        ticket = ctx.store.ticket(int(args[0]))
        body: dict[str, Any] = {"ticket": ticket_json(ctx.store, ticket, ctx.base)}
        body |= sideloads(ctx.store, [ticket], parse_include(req.query.get("include")), ctx.base)
    return Reply(200, body)


def show_many(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/show_many?ids=: up to 100 tickets; unknown ids are left out."""
    raw = [part for part in req.query.get("ids", "").split(",") if part.strip()]
    if len(raw) > 100:
        raise ApiError(400, TOO_MANY_VALUES)
    try:
        ids = [int(part) for part in raw]
    except ValueError:
        raise invalid_value("ids must be a comma-separated list of integers") from None
    with ctx.store.lock:
        tickets = [ctx.store.tickets[i] for i in ids if i in ctx.store.tickets]
        body: dict[str, Any] = {"tickets": [ticket_json(ctx.store, t, ctx.base) for t in tickets]}
        body |= sideloads(ctx.store, tickets, parse_include(req.query.get("include")), ctx.base)
    return Reply(200, body)


def list_tickets(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets: by external_id, or all tickets with offset pagination (≤ 100 a page)."""
    with ctx.store.lock:
        tickets = sorted(ctx.store.tickets.values(), key=lambda t: t.id)
        external = req.query.get("external_id")
        if external is not None:
            found = [t for t in tickets if t.external_id == external]
            shown = [ticket_json(ctx.store, t, ctx.base) for t in found]
            return Reply(
                200,
                {"tickets": shown, "next_page": None, "previous_page": None, "count": len(found)},
            )
        page = req.integer("page", 1, 1, 10**6)
        per_page = req.integer("per_page", 100, 1, 100)
        chunk = tickets[(page - 1) * per_page : page * per_page]
        body = {
            "tickets": [ticket_json(ctx.store, t, ctx.base) for t in chunk],
            "next_page": _page_url(ctx, page + 1, per_page)
            if page * per_page < len(tickets)
            else None,
            "previous_page": _page_url(ctx, page - 1, per_page) if page > 1 else None,
            "count": len(tickets),
        }
        body |= sideloads(ctx.store, chunk, parse_include(req.query.get("include")), ctx.base)
    return Reply(200, body)


def _page_url(ctx: Context, page: int, per_page: int) -> str:
    """An offset-pagination page link of GET /tickets."""
    return f"{ctx.base}/api/v2/tickets.json?page={page}&per_page={per_page}"


def _comment_cursor(comment_id: int) -> str:
    """An opaque comments-page cursor."""
    return base64.b64encode(f'{{"o":"created_at","v":{comment_id}}}'.encode()).decode()


def _comment_position(cursor: str, ids: list[int]) -> int:
    """The index in `ids` a comments cursor points at; 400 when it is not valid."""
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        return ids.index(int(text.rsplit(":", 1)[1].rstrip("}")))
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
        raise invalid_value("Invalid cursor") from None


def list_comments(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /tickets/{id}/comments: cursor pagination (page[size] ≤ 100), oldest first."""
    size = req.integer("page[size]", 100, 1, 100)
    with ctx.store.lock:
        ticket = ctx.store.ticket(int(args[0]))
        comments = list(ticket.comments)
        if req.query.get("sort") == "-created_at":
            comments.reverse()
        ids = [c.id for c in comments]
        start, stop = 0, len(comments)
        if req.query.get("page[after]"):
            start = _comment_position(req.query["page[after]"], ids) + 1
            stop = min(len(comments), start + size)
        elif req.query.get("page[before]"):
            stop = _comment_position(req.query["page[before]"], ids)
            start = max(0, stop - size)
        else:
            stop = min(len(comments), size)
        page = comments[start:stop]
        has_more = stop < len(comments)
        after = _comment_cursor(page[-1].id) if page else None
        before = _comment_cursor(page[0].id) if page else None
        link = f"{ctx.base}/api/v2/tickets/{ticket.id}/comments.json?page%5Bsize%5D={size}"
        body: dict[str, Any] = {
            "comments": [comment_json(ctx.store, c) for c in page],
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {
                "next": f"{link}&page%5Bafter%5D={quote(after, safe='')}"
                if has_more and after
                else None,
                "prev": f"{link}&page%5Bbefore%5D={quote(before, safe='')}"
                if start > 0 and before
                else None,
            },
        }
        if "users" in parse_include(req.query.get("include")):
            authors = sorted({c.author_id for c in page})
            body["users"] = [
                user_json(ctx.store.users[a], ctx.base) for a in authors if a in ctx.store.users
            ]
    return Reply(200, body)


def put_ticket(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """PUT /tickets/{id}: fields and an optional comment, all or nothing, safe_update honoured."""
    payload = ticket_payload(req.json())
    with ctx.store.lock:
        ticket, audit = update_ticket(ctx.store, int(args[0]), payload, ctx.user)
        return Reply(200, {"ticket": ticket_json(ctx.store, ticket, ctx.base), "audit": audit})


def post_ticket(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """POST /tickets: 201 with a Location header.

    With an `Idempotency-Key` header a repeat of the same body answers the first result with
    `x-idempotency-lookup: hit` (first time: `miss`) and creates nothing. A repeat with another
    body is refused with 400 here; what Zendesk answers then is not documented (a guess).
    """
    key = next((v for k, v in req.headers.items() if k.lower() == "idempotency-key"), None)
    payload = ticket_payload(req.json())
    with ctx.store.lock:
        if key is not None and key in ctx.store.idempotent:
            sent, first, headers = ctx.store.idempotent[key]
            if sent != req.body:
                raise ApiError(
                    400,
                    {
                        "error": "IdempotentRequestError",
                        "description": "Idempotency-Key reused with another body",
                    },
                )
            return Reply(201, first, {**headers, "x-idempotency-lookup": "hit"})
        ticket, audit = create_ticket(ctx.store, payload, ctx.user, ctx.custom_ids)
        body = {"ticket": ticket_json(ctx.store, ticket, ctx.base), "audit": audit}
        headers = {"Location": f"{ctx.base}/api/v2/tickets/{ticket.id}.json"}
        if key is not None:
            ctx.store.idempotent[key] = (req.body, body, headers)
            headers = {**headers, "x-idempotency-lookup": "miss"}
    return Reply(201, body, headers)


BULK_MAX = 100


def _jobs(ctx: Context) -> JobBook:
    """The server's job book (a sandbox without one does not offer bulk endpoints)."""
    if ctx.jobs is None:
        raise ApiError(404, INVALID_ENDPOINT)
    return ctx.jobs


def _ids_param(req: Request, kind: type[int] | type[str]) -> list[Any]:
    """The `ids` query parameter: at most 100 comma-separated values (400 otherwise)."""
    raw = [part.strip() for part in req.query.get("ids", "").split(",") if part.strip()]
    if len(raw) > BULK_MAX:
        raise ApiError(400, TOO_MANY_VALUES)
    try:
        return [kind(part) for part in raw]
    except ValueError:
        raise invalid_value("ids must be a comma-separated list of integers") from None


def _tickets_array(body: Any) -> list[dict[str, Any]]:
    """The `tickets` array of a bulk body: 1 to 100 objects (400 otherwise)."""
    tickets = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(tickets, list) or not tickets:
        raise invalid_json("The request body must be a JSON object with a tickets array")
    if len(tickets) > BULK_MAX:
        raise ApiError(400, TOO_MANY_VALUES)
    if not all(isinstance(t, dict) for t in tickets):
        raise invalid_json("Each entry of tickets must be an object")
    return tickets


def _job_reply(ctx: Context, job: Any) -> Reply:
    """200 with the new job's status."""
    return Reply(200, {"job_status": _jobs(ctx).json(job, ctx.base)})


def update_many(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """PUT /tickets/update_many: `{"tickets": [{id, ...}]}`, or `?ids=` with one `{"ticket"}`."""
    jobs = _jobs(ctx)
    body = req.json()
    items: list[tuple[int | None, dict[str, Any]]]
    if req.query.get("ids"):
        changes = ticket_payload(body)
        items = [(tid, dict(changes)) for tid in _ids_param(req, int)]
    else:
        items = []
        for entry in _tickets_array(body):
            tid = entry.get("id")
            if not isinstance(tid, int) or isinstance(tid, bool):
                raise invalid_value("Each ticket of update_many needs an integer id")
            items.append((tid, {k: v for k, v in entry.items() if k != "id"}))
    return _job_reply(ctx, jobs.submit("update", items, ctx.user, req.fault))


def create_many(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """POST /tickets/create_many: `{"tickets": [...]}`, each item like a POST /tickets body."""
    jobs = _jobs(ctx)
    items: list[tuple[int | None, dict[str, Any]]] = [
        (None, entry) for entry in _tickets_array(req.json())
    ]
    return _job_reply(ctx, jobs.submit("create", items, ctx.user, req.fault))


def show_job(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /job_statuses/{id}: 404 once the status is gone."""
    jobs = _jobs(ctx)
    job = jobs.find(args[0])
    if job is None:
        raise not_found()
    return Reply(200, {"job_status": jobs.json(job, ctx.base)})


def show_many_jobs(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /job_statuses/show_many?ids=: the statuses still kept; unknown ids are left out."""
    jobs = _jobs(ctx)
    found = [job for job in (jobs.find(i) for i in _ids_param(req, str)) if job is not None]
    return Reply(200, {"job_statuses": [jobs.json(job, ctx.base) for job in found]})


def list_jobs(ctx: Context, req: Request, args: tuple[str, ...]) -> Reply:
    """GET /job_statuses: the account's recent job statuses, newest first (cursor pagination,
    page[size] ≤ 100; one page is all the sandbox keeps)."""
    size = req.integer("page[size]", 100, 1, 100)
    jobs = _jobs(ctx)
    shown = [job for job in (jobs.find(i["id"]) for i in reversed(jobs.listing())) if job]
    page = [jobs.json(job, ctx.base) for job in shown[:size]]
    return Reply(
        200,
        {
            "job_statuses": page,
            "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
            "links": {"next": None, "prev": None},
        },
    )


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(rf"^/api/v2/{pattern}$"), handler)
    for method, pattern, handler in (
        ("GET", r"users/me", me),
        ("GET", r"users/(\d+)", show_user),
        ("GET", r"organizations/(\d+)", show_organization),
        ("GET", r"groups", list_groups),
        ("GET", r"incremental/tickets/cursor", export),
        ("GET", r"incremental/ticket_events", export_events),
        ("GET", r"tickets/show_many", show_many),
        ("PUT", r"tickets/update_many", update_many),
        ("POST", r"tickets/create_many", create_many),
        ("GET", r"job_statuses", list_jobs),
        ("GET", r"job_statuses/show_many", show_many_jobs),
        ("GET", r"job_statuses/([^/]+)", show_job),
        ("GET", r"tickets", list_tickets),
        ("POST", r"tickets", post_ticket),
        ("GET", r"tickets/(\d+)", show_ticket),
        ("PUT", r"tickets/(\d+)", put_ticket),
        ("GET", r"tickets/(\d+)/comments", list_comments),
    )
]


def normalise(path: str) -> str:
    """The path without a trailing slash or `.json` suffix."""
    path = path.rstrip("/")
    return path[: -len(".json")] if path.endswith(".json") else path


def route(method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
    """The handler for a request, or a 404 InvalidEndpoint."""
    clean = normalise(path)
    for verb, pattern, handler in ROUTES:
        found = pattern.match(clean)
        if found and verb == method:
            return handler, found.groups()
    raise ApiError(404, INVALID_ENDPOINT)
