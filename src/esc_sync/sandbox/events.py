"""GET /api/v2/incremental/ticket_events.json: the time-based ticket event export.

Each comment is one event (an audit) whose child is the comment itself when the caller asks for
`include=comment_events` (otherwise only `comment_present` / `comment_public` flags); every ticket
also has one change event at its `updated_at` when that is later than its last comment, and its
seeded field changes (`Ticket.updates`) spread over its life. Pages
hold about 1,000 events and never split a second; `next_page` restarts at `end_time`
(inclusive), so the boundary second comes again, as in Zendesk (helpdesk-apis.md §A5.5).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from datetime import timedelta
from typing import Any

from esc_sync.sandbox.errors import TOO_RECENT_START, ApiError, invalid_value
from esc_sync.sandbox.render import iso, via
from esc_sync.sandbox.store import Comment, Store, Ticket
from esc_sync.sandbox.wire import Reply, Request

PAGE = 1000
CHANGE_EVENT_BASE = 10**15  # ids of the synthetic per-ticket change events
UPDATE_EVENT_BASE = 2 * 10**15  # ids of the seeded field changes (`Ticket.updates`)

_Event = tuple[int, int, int, Ticket, Comment | None]  # timestamp, event id, ticket id, ...


class EventIndex:
    """Every event sorted by (timestamp, id), rebuilt when the store has changed."""

    def __init__(self) -> None:
        """An empty index."""
        self._key: tuple[int, int] | None = None
        self._events: list[_Event] = []
        self._stamps: list[int] = []
        self._lock = threading.Lock()

    def events(self, store: Store) -> tuple[list[_Event], list[int]]:
        """The sorted events and their timestamps (call with the store's lock held)."""
        key = (len(store.tickets), max((t.gen_us for t in store.tickets.values()), default=0))
        with self._lock:
            if key != self._key:
                self._events = sorted(_all_events(store))
                self._stamps = [e[0] for e in self._events]
                self._key = key
            return self._events, self._stamps


def _all_events(store: Store) -> list[_Event]:
    """One event per comment and one change event per ticket updated after its last comment."""
    out: list[_Event] = []
    for ticket in store.tickets.values():
        last = None
        for comment in ticket.comments:
            out.append(
                (int(comment.created_at.timestamp()), comment.audit_id, ticket.id, ticket, comment)
            )
            last = comment.created_at
        if last is None or ticket.updated_at > last:
            stamp = int(ticket.updated_at.timestamp())
            out.append((stamp, CHANGE_EVENT_BASE + ticket.id, ticket.id, ticket, None))
        span = ticket.updated_at - ticket.created_at
        for k in range(ticket.updates):  # spread over the ticket's life, before its last change
            stamp = int((ticket.created_at + span * (k + 1) / (ticket.updates + 1)).timestamp())
            event_id = UPDATE_EVENT_BASE + ticket.id * 1000 + 2 * k
            out.append((stamp, event_id, ticket.id, ticket, None))
    return out


def event_json(store: Store, event: _Event, with_comments: bool) -> dict[str, Any]:
    """One event as the export shows it."""
    stamp, event_id, ticket_id, ticket, comment = event
    child: dict[str, Any]
    if comment is None:
        child = {"id": event_id + 1, "event_type": "Change", "status": ticket.status}
        updater = -1
    elif with_comments:
        child = {
            "id": comment.id,
            "event_type": "Comment",
            "type": "Comment",
            "author_id": comment.author_id,
            "body": comment.body,
            "html_body": comment.html_body,
            "public": comment.public,
            "attachments": [],
            "audit_id": comment.audit_id,
            "created_at": iso(comment.created_at),
            "via": via(comment.channel, store.user(comment.author_id)),
        }
        updater = comment.author_id
    else:
        child = {"id": comment.id, "comment_present": True, "comment_public": comment.public}
        updater = comment.author_id
    return {
        "id": event_id,
        "ticket_id": ticket_id,
        "timestamp": stamp,
        "created_at": iso(ticket.updated_at if comment is None else comment.created_at),
        "updater_id": updater,
        "via": via(ticket.channel),
        "event_type": "Audit",
        "child_events": [child],
    }


def ticket_events(
    store: Store, index: EventIndex, req: Request, base: str, recent_window: int
) -> Reply:
    """GET /incremental/ticket_events: events at or after `start_time`, a page at a time."""
    raw = req.query.get("start_time")
    if not raw:
        raise invalid_value("start_time is required")
    try:
        start = int(raw)
    except ValueError:
        raise invalid_value("start_time must be a unix timestamp") from None
    now = store.now()
    if start > now.timestamp():
        raise ApiError(422, TOO_RECENT_START)
    asked = {part.strip() for part in (req.query.get("include") or "").split(",")}
    with_comments = "comment_events" in asked
    cap = int((now - timedelta(seconds=recent_window)).timestamp()) if recent_window > 0 else None
    with store.lock:
        events, stamps = index.events(store)
        first = bisect_left(stamps, max(start, 0))
        stop = len(events) if cap is None else bisect_left(stamps, cap + 1)
        last = min(first + PAGE, stop)
        while last < stop and last > first and stamps[last] == stamps[last - 1]:
            last += 1  # a second is never split
        page = events[first:last]
        body = {
            "ticket_events": [event_json(store, e, with_comments) for e in page],
            "count": len(page),
            "end_of_stream": last >= stop,
        }
    end_time = page[-1][0] if page else start
    body["end_time"] = end_time
    include = f"&include={req.query['include']}" if req.query.get("include") else ""
    body["next_page"] = (
        f"{base}/api/v2/incremental/ticket_events.json?start_time={end_time}{include}"
    )
    return Reply(200, body)
