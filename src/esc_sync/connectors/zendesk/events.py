"""Comment text in bulk from the incremental ticket-event export (helpdesk-apis.md §A5.5).

One pass over `GET /api/v2/incremental/ticket_events.json?include=comment_events` from the
creation of the oldest wanted ticket gives every comment of every wanted ticket in a few
requests, instead of one `GET /tickets/{id}/comments` per ticket. The range read is kept (up to
`MAX_CACHED` comments), so the next page of the change feed only reads what is new. A ticket's
comments are handed back only when they are known to be complete:

- the ticket was created at or after the export's start (its whole history was scanned);
- the scan reached the ticket's `updated_at` (the export leaves out the most recent minute);
- every comment's author role is known (the requester, the bot, a marker, or a user whose role
  the change feed side-loaded); an unknown author could be an agent.

Anything else is left to the per-ticket fallback, so the worker never sees a partial history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
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
MAX_CACHED = 20_000  # comments kept between prefetches of one process


class EventScan:
    """The part of the export already read: a contiguous range of seconds and the raw comment
    events of every ticket in it, kept between prefetches so that the pages of one cycle read
    the export once instead of once per page.

    Bounded: the comments of the tickets asked for are always kept; those of other tickets only
    while fewer than `limit` comments are kept. Once one was left out, the scan is forgotten
    after the prefetch that read it (the next one reads again, as without a cache).
    """

    def __init__(self, limit: int = MAX_CACHED) -> None:
        self.limit = limit
        self.start: int | None = None
        self.covered = 0
        self.children: dict[int, dict[int, dict[str, Any]]] = {}
        self.count = 0
        self.lossy = False  # a comment of a ticket not asked for was left out

    def clear(self) -> None:
        """Forget everything read."""
        self.start, self.covered, self.count, self.lossy = None, 0, 0, False
        self.children = {}

    def read(
        self, client: ZendeskClient, start: int, until: int, wanted: Mapping[int, object]
    ) -> None:
        """Read the export from `start` until past `until` (or its end), keeping comments."""
        if self.start is None or start < self.start or start > self.covered + 1:
            self.clear()  # not contiguous with what is kept: begin again
            self.start, self.covered = start, start - 1
        else:
            start = max(self.covered, start)
        for _ in range(MAX_PAGES):
            if self.covered > until:
                return
            body = client.ticket_events(start)
            events = body.get("ticket_events")
            end_time = body.get("end_time")
            if not isinstance(events, list) or not isinstance(end_time, int):
                return
            for event in events:
                self._keep(event, wanted)
            self.covered = max(self.covered, end_time)
            if body.get("end_of_stream") is True:
                return
            # next_page restarts at end_time (inclusive); a page is never split inside a second,
            # so when a page did not move past its start the next one starts a second later
            start = end_time if end_time > start else start + 1

    def _keep(self, event: Any, wanted: Mapping[int, object]) -> None:
        """Keep the comment children of one event (de-duplicated by comment id)."""
        if not isinstance(event, dict):
            return
        ticket_id = event.get("ticket_id")
        children = event.get("child_events")
        if not isinstance(ticket_id, int) or not isinstance(children, list):
            return
        if ticket_id not in wanted and ticket_id not in self.children and self.count >= self.limit:
            self.lossy = True  # bounded: this ticket's comments are not kept
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
    dated = [t for t in tickets if t.created_at is not None and t.updated_at is not None]
    if not dated:
        return {}
    now = int(clock())
    oldest = min(int(t.created_at.timestamp()) for t in dated if t.created_at is not None)
    start = min(max(oldest, now - WINDOW), now - RECENT)
    wanted = {
        t.id: t for t in dated if t.created_at is not None and t.created_at.timestamp() >= start
    }
    if not wanted:
        return {}
    newest = max(int(t.updated_at.timestamp()) for t in wanted.values() if t.updated_at)
    scan = scan if scan is not None else EventScan()
    if scan.start is not None and start >= scan.start:
        start = scan.start  # what is kept already reaches back far enough
    try:
        scan.read(client, start, newest, wanted)
    except AuthError:
        raise
    except HelpdeskError as exc:
        log.warning("zendesk.ticket_events_failed", error=str(exc), fallback=len(wanted))
        scan.clear()
        return {}
    found: dict[int, list[Comment]] = {}
    for tid, ticket in wanted.items():
        updated = ticket.updated_at.timestamp() if ticket.updated_at else None
        if scan.start is None or updated is None or updated > scan.covered:
            continue
        comments = _comments(ticket, scan.children.get(tid, {}), bot_user_id, users)
        if comments is not None:
            found[tid] = comments
    if scan.lossy or scan.count > scan.limit:
        scan.clear()
    return found


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
