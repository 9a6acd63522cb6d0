"""Comment text in bulk from the incremental ticket-event export (helpdesk-apis.md §A5.5).

One pass over `GET /api/v2/incremental/ticket_events.json?include=comment_events` from the
creation of the oldest wanted ticket gives every comment of every wanted ticket in a few
requests, instead of one `GET /tickets/{id}/comments` per ticket. A ticket's comments are handed
back only when they are known to be complete:

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

import structlog

from esc_sync.connectors.zendesk.client import ZendeskClient
from esc_sync.connectors.zendesk.normalize import MalformedRecord, normalize_comment
from esc_sync.errors import AuthError, HelpdeskError
from esc_sync.model import MARKER_PREFIX, Comment, Ticket

log = structlog.get_logger("esc_sync.connectors")

WINDOW = 30 * 24 * 3600  # scan at most 30 days back; older tickets use the per-ticket fallback
RECENT = 61  # the export never returns the most recent minute
MAX_PAGES = 500  # a runaway export stops here (the rest falls back)


def prefetch(
    client: ZendeskClient,
    tickets: Sequence[Ticket],
    *,
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
    clock: Callable[[], float] = time.time,
) -> dict[int, list[Comment]]:
    """The complete comment lists of the wanted tickets that one export pass can vouch for."""
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
    found: dict[int, dict[int, Comment]] = {tid: {} for tid in wanted}
    doubtful: set[int] = set()
    covered = start - 1
    try:
        for _ in range(MAX_PAGES):
            body = client.ticket_events(start)
            events = body.get("ticket_events")
            end_time = body.get("end_time")
            if not isinstance(events, list) or not isinstance(end_time, int):
                break
            for event in events:
                _take(event, wanted, found, doubtful, bot_user_id, users)
            covered = end_time
            if body.get("end_of_stream") is True or end_time > newest:
                break
            # next_page restarts at end_time (inclusive); a page is never split inside a second,
            # so when a page did not move past its start the next one starts a second later
            start = end_time if end_time > start else start + 1
    except AuthError:
        raise
    except HelpdeskError as exc:
        log.warning("zendesk.ticket_events_failed", error=str(exc), fallback=len(wanted))
        return {}
    return {
        tid: list(comments.values())
        for tid, comments in found.items()
        if tid not in doubtful
        and (t_upd := wanted[tid].updated_at) is not None
        and t_upd.timestamp() <= covered
    }


def _take(
    event: Any,
    wanted: Mapping[int, Ticket],
    found: dict[int, dict[int, Comment]],
    doubtful: set[int],
    bot_user_id: int | None,
    users: Mapping[int, Mapping[str, Any]],
) -> None:
    """Add the comments of one event to its ticket (de-duplicated by comment id)."""
    if not isinstance(event, dict):
        return
    ticket = wanted.get(event.get("ticket_id"))  # type: ignore[arg-type]
    children = event.get("child_events")
    if ticket is None or not isinstance(children, list):
        return
    for child in children:
        if not isinstance(child, dict) or child.get("event_type") != "Comment":
            continue
        try:
            comment = normalize_comment(
                child, requester_id=ticket.requester.id, bot_user_id=bot_user_id, users=users
            )
        except MalformedRecord:
            doubtful.add(ticket.id)  # the per-ticket read will report it properly
            continue
        known = (
            comment.author_id is not None
            and (
                comment.author_id in (ticket.requester.id, bot_user_id)
                or comment.author_id in users
            )
        ) or MARKER_PREFIX in comment.body
        if not known:
            doubtful.add(ticket.id)
        found[ticket.id][comment.id] = comment
