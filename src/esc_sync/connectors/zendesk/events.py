"""Comment text in bulk from the incremental ticket-event export (helpdesk-apis.md §A5.5).

`GET /api/v2/incremental/ticket_events.json?include=comment_events` gives every comment of every
ticket changed in a time range in a few requests, instead of one `GET /tickets/{id}/comments` per
ticket, but it spends the scarce export budget (10 requests a minute, shared with the change
feed). So the export is read **once per process, in step with the change feed**:

- The feed is ordered by change time, and so is the export; a ticket's comments all come before
  its change. Reading the export up to the newest wanted ticket of a feed page gives that page
  every comment it needs, and streams by the older comments of tickets still to come.
- Those are kept (bounded) until their ticket's feed page comes; everything else is dropped as it
  streams by: comments of tickets already handed over or fed without being wanted, and, past the
  bound, comments of tickets not yet fed (they are then read one by one if they are wanted).
- The scan never goes back: a ticket created before the scan's start, or one whose comments were
  dropped, is left to the per-ticket read.

A ticket's comments are handed back only when they are known to be complete:

- the ticket was created at or after the scan's start, and none of its comments was dropped;
- the scan reached the ticket's `updated_at` (the export leaves out the most recent minute);
- every comment's author role is known (the requester, the bot, a marker, or a user whose role
  the change feed side-loaded); an unknown author could be an agent.

The cost model: an export page costs a tenth of a minute of the export budget, as much time as
`EXPORT_WEIGHT` general requests at Enterprise limits (700 vs 10 a minute). A page of the feed
with fewer wanted tickets than that, the usual steady state, reads them one by one instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from esc_sync import logs
from esc_sync.connectors.zendesk.client import ZendeskClient
from esc_sync.connectors.zendesk.normalize import MalformedRecord, normalize_comment
from esc_sync.errors import AuthError, HelpdeskError
from esc_sync.model import MARKER_PREFIX, Comment, Ticket

log = logs.get_logger("esc_sync.connectors")

WINDOW = 30 * 24 * 3600  # scan at most 30 days back; older tickets use the per-ticket fallback
RECENT = 61  # the export never returns the most recent minute
MAX_PAGES = 500  # a runaway export stops here (the rest falls back)
MAX_CACHED = 20_000  # comments of tickets not yet fed, kept for their feed page
MAX_DONE = 200_000  # ids of tickets whose events are skipped; past it the scan starts afresh
EXPORT_WEIGHT = 70  # general requests worth one export request (Enterprise: 700/min vs 10/min)


class EventScan:
    """The export read so far in this process: how far (`start`..`covered`, whole seconds), the
    comments kept for tickets not yet handed over, and the tickets whose events are skipped."""

    def __init__(self, limit: int = MAX_CACHED, done_limit: int = MAX_DONE) -> None:
        self.limit = limit
        self.done_limit = done_limit
        self.min_batch = EXPORT_WEIGHT  # fewer wanted tickets than this: read one by one
        self.start: int | None = None
        self.covered = 0
        self.children: dict[int, dict[int, dict[str, Any]]] = {}
        self.count = 0
        self.done: set[int] = set()  # handed over, fed unwanted, or a comment dropped
        self.fed: set[int] = set()  # the tickets of the latest feed page
        self.wanted: set[int] = set()  # the tickets being prefetched now: always kept

    def begin(self, start: int) -> None:
        """Start afresh at `start`: nothing read, nothing kept (tickets already fed still are
        not vouched for when created before `start`)."""
        self.start, self.covered, self.count = start, start - 1, 0
        self.children, self.done = {}, set()

    def feed(self, tickets: Iterable[Ticket]) -> None:
        """A new page of the change feed: the previous one is over, so its tickets are done
        (whether their comments were wanted or not)."""
        for ticket_id in self.fed:
            self.drop(ticket_id)
        self.fed = {t.id for t in tickets}

    def drop(self, ticket_id: int) -> None:
        """Drop a ticket's kept comments and skip its further events in this scan."""
        self.count -= len(self.children.pop(ticket_id, {}))
        if self.start is not None:
            self.done.add(ticket_id)

    def complete(self, ticket: Ticket) -> bool:
        """Whether every comment of the ticket is kept (the scan reached its last change)."""
        if self.start is None or ticket.id in self.done or ticket.created_at is None:
            return False
        updated = ticket.updated_at.timestamp() if ticket.updated_at else None
        return ticket.created_at.timestamp() >= self.start and (
            updated is not None and updated <= self.covered
        )

    def read(self, client: ZendeskClient, until: int) -> None:
        """Read on from `covered` until past `until` (or the export's end), keeping comments."""
        if self.start is None:
            return
        start = max(self.covered, self.start)
        for _ in range(MAX_PAGES):
            if self.covered > until:
                return
            body = client.ticket_events(start)
            events = body.get("ticket_events")
            end_time = body.get("end_time")
            if not isinstance(events, list) or not isinstance(end_time, int):
                return
            for event in events:
                self._keep(event)
            self.covered = max(self.covered, end_time)
            if body.get("end_of_stream") is True:
                return
            # next_page restarts at end_time (inclusive); a page is never split inside a second,
            # so when a page did not move past its start the next one starts a second later
            start = end_time if end_time > start else start + 1

    def _keep(self, event: Any) -> None:
        """Keep the comment children of one event (de-duplicated by comment id) or drop them."""
        if not isinstance(event, dict):
            return
        ticket_id = event.get("ticket_id")
        children = event.get("child_events")
        if not isinstance(ticket_id, int) or not isinstance(children, list):
            return
        if ticket_id in self.done:
            return  # handed over or not wanted: a later change sends it to the per-ticket read
        if ticket_id not in self.wanted and self.count >= self.limit:
            self.drop(ticket_id)  # bounded: this ticket will be read on its own if wanted
            return
        for child in children:
            if isinstance(child, dict) and child.get("event_type") == "Comment":
                kept = self.children.setdefault(ticket_id, {})
                key = child.get("id") if isinstance(child.get("id"), int) else -len(kept) - 1
                if key not in kept:
                    self.count += 1
                kept[key] = child  # type: ignore[index]


def prefetch(
    client: ZendeskClient,
    tickets: Sequence[Ticket],
    *,
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
    clock: Callable[[], float] = time.time,
    scan: EventScan | None = None,
) -> dict[int, list[Comment]]:
    """The complete comment lists of the wanted tickets that the export can vouch for."""
    scan = scan if scan is not None else EventScan()
    now = int(clock())
    wanted = {t.id: t for t in tickets}
    pool = [
        t
        for t in tickets
        if t.created_at is not None
        and t.updated_at is not None
        and t.id not in scan.done
        and t.updated_at.timestamp() <= now - RECENT
    ]
    try:
        if pool and len(pool) >= scan.min_batch:
            _advance(client, scan, pool, now)
    except AuthError:
        raise
    except HelpdeskError as exc:
        log.warning("zendesk.ticket_events_failed", error=str(exc), fallback=len(wanted))
        scan.start = None  # begin afresh next time
        scan.children, scan.count, scan.done = {}, 0, set()
    found: dict[int, list[Comment]] = {}
    for tid, ticket in wanted.items():
        if scan.complete(ticket):
            comments = _comments(ticket, scan.children.get(tid, {}), bot_user_id, users)
            if comments is not None:
                found[tid] = comments
    for tid in wanted:  # handed over (or read one by one): their later events are not needed
        scan.drop(tid)
    scan.wanted = set()
    if len(scan.done) > scan.done_limit:
        scan.begin(scan.covered + 1)
    return found


def _advance(client: ZendeskClient, scan: EventScan, pool: Sequence[Ticket], now: int) -> None:
    """Read the export far enough for the pool's tickets, starting afresh where nothing kept
    can serve them (first use, or every one of them created after what was read)."""
    created = [int(t.created_at.timestamp()) for t in pool if t.created_at is not None]
    oldest = min(created)
    if scan.start is None or oldest > scan.covered + 1:
        scan.begin(min(max(oldest, now - WINDOW), now - RECENT))
    scan.wanted = {t.id for t in pool}
    newest = max(int(t.updated_at.timestamp()) for t in pool if t.updated_at is not None)
    scan.read(client, newest)


def _comments(
    ticket: Ticket,
    children: Mapping[int, Mapping[str, Any]],
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
) -> list[Comment] | None:
    """A ticket's comments from its kept events; None when one of them is doubtful."""
    out: list[Comment] = []
    for child in children.values():
        try:
            comment = normalize_comment(
                child, requester_id=ticket.requester.id, bot_user_id=bot_user_id, users=users
            )
        except MalformedRecord:
            return None  # the per-ticket read will report it properly
        known = (
            comment.author_id is not None
            and (
                comment.author_id in (ticket.requester.id, bot_user_id)
                or comment.author_id in users
            )
        ) or MARKER_PREFIX in comment.body
        if not known:
            return None  # an unknown author could be an agent
        out.append(comment)
    return out
