"""Comments in bulk from the ticket-event export equal the per-ticket reads, ticket by ticket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import CommentPrefetcher, derive_comment_fields
from esc_sync.connectors.zendesk import ZendeskConnector, events
from esc_sync.model import Ticket
from esc_sync.sandbox import BOT_EMAIL, Sandbox
from esc_sync.sandbox.faults import Fault
from tests.frozen import frozen_sandbox, suite_now

TOKEN = "prefetch-token"


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A sandbox with 200 tickets, no recent-window delay and a lifted export budget."""
    options = {"tickets": 200, "recent_window": 0, "incremental_limit": 1000}
    with frozen_sandbox(token=TOKEN, **options) as sandbox:
        yield sandbox


def _connector(box: Sandbox) -> ZendeskConnector:
    """A Zendesk connector speaking to the sandbox."""
    profile = ConnectorProfile(
        type="zendesk",
        base_url=box.url,
        email=BOT_EMAIL,
        token_env="UNUSED",
        token=SecretStr(TOKEN),
        start="30d",
        groups={"t1": 360000001, "t2": 360000002, "t3": 360000003, "t4": 360000004},
        name="sandbox",
    )
    return ZendeskConnector(profile, sleep=lambda _s: None, now=box.store.clock.now)


def _feed(connector: ZendeskConnector) -> list[Ticket]:
    """Every ticket of the change feed since long ago."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return [t for page in connector.iter_changes(None, start) for t in page.tickets]


def test_prefetched_comments_derive_the_same_ticket_as_a_per_ticket_read(box: Sandbox) -> None:
    """Markers, author roles and every derived field match `load_comments`, in 1–2 requests."""
    connector = _connector(box)
    assert isinstance(connector, CommentPrefetcher)
    tickets = _feed(connector)
    before = connector.calls["GET /api/v2/incremental/ticket_events.json"]
    found = connector.prefetch_comments(tickets)
    pages = connector.calls["GET /api/v2/incremental/ticket_events.json"] - before
    assert pages <= 3
    assert len(found) >= len(tickets) // 2  # older ones fall back, never partial
    for ticket in tickets:
        if ticket.id not in found:
            continue
        bulk = derive_comment_fields(ticket, found[ticket.id])
        single = connector.load_comments(ticket)
        assert bulk == single, ticket.id


def test_a_failing_export_falls_back_to_per_ticket_reads(box: Sandbox) -> None:
    """When the export answers an error the prefetch hands back nothing (all fall back)."""
    connector = _connector(box)
    tickets = _feed(connector)
    box.faults.arm(Fault("500", count=10, path="ticket_events", method="GET"))
    assert connector.prefetch_comments(tickets) == {}
    assert connector.load_comments(tickets[0]).comments_loaded  # the fallback still works


def test_tickets_older_than_the_window_are_left_to_the_fallback(box: Sandbox) -> None:
    """A ticket created before the scan's start is never handed back (its history is partial)."""
    connector = _connector(box)
    tickets = _feed(connector)
    oldest = min(tickets, key=lambda t: t.created_at or datetime.max.replace(tzinfo=UTC))
    window = events.WINDOW
    try:
        assert oldest.created_at is not None
        events.WINDOW = int(suite_now().timestamp() - oldest.created_at.timestamp()) - 3600
        found = connector.prefetch_comments(tickets)
    finally:
        events.WINDOW = window
    assert oldest.id not in found


def _same_as_per_ticket_reads(
    connector: ZendeskConnector, tickets: list[Ticket], found: dict[int, object]
) -> None:
    """Every handed-back comment list derives the ticket a per-ticket read derives."""
    by_id = {t.id: t for t in tickets}
    for tid, comments in found.items():
        bulk = derive_comment_fields(by_id[tid], comments)  # type: ignore[arg-type]
        assert bulk == connector.load_comments(by_id[tid]), tid


def _pages(tickets: list[Ticket], size: int) -> list[list[Ticket]]:
    """The tickets in feed order, cut into pages of `size`."""
    ordered = sorted(tickets, key=lambda t: (t.updated_at, t.id))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _prefetch_page_by_page(connector: ZendeskConnector, pages: list[list[Ticket]]) -> dict:
    """As the worker does: a feed page, then the prefetch of its tickets, page after page."""
    found: dict[int, object] = {}
    for page in pages:
        connector._scan.feed(page)
        found.update(connector.prefetch_comments(page))
    return found


def test_the_pages_of_one_feed_read_the_export_once(box: Sandbox) -> None:
    """Prefetches page by page (as the worker does) read the export once, and what they hand
    back still equals the per-ticket reads."""
    all_at_once = _connector(box)
    tickets = _feed(all_at_once)
    all_at_once._scan.min_batch = 1
    all_at_once.prefetch_comments(tickets)
    once = all_at_once.calls["GET /api/v2/incremental/ticket_events.json"]

    connector = _connector(box)
    connector._scan.min_batch = 1
    tickets = _feed(connector)
    found = _prefetch_page_by_page(connector, _pages(tickets, 25))
    paged = connector.calls["GET /api/v2/incremental/ticket_events.json"]

    assert paged <= once + 1, (paged, once)
    assert len(found) >= len(tickets) // 2
    _same_as_per_ticket_reads(connector, tickets, found)


def test_past_the_bound_the_scan_still_reads_the_export_once(box: Sandbox) -> None:
    """With room for a handful of comments, tickets not yet fed are dropped as they stream by
    (and left to the per-ticket read); the scan goes on and never reads a page twice."""
    connector = _connector(box)
    connector._scan.min_batch = 1
    connector._scan.limit = 5
    once = _connector(box)
    once._scan.min_batch = 1
    once.prefetch_comments(_feed(once))
    tickets = _feed(connector)
    found = _prefetch_page_by_page(connector, _pages(tickets, 25))

    pages = connector.calls["GET /api/v2/incremental/ticket_events.json"]
    assert pages <= once.calls["GET /api/v2/incremental/ticket_events.json"] + 1
    assert connector._scan.count <= 5 + 25 * 10  # the bound, plus the page being prefetched
    assert found  # the tickets of each page's own stretch of the export still come back
    _same_as_per_ticket_reads(connector, tickets, found)


def test_a_ticket_handed_over_is_not_vouched_for_again(box: Sandbox) -> None:
    """Its later events are dropped as they stream by, so a second ask falls back."""
    connector = _connector(box)
    connector._scan.min_batch = 1
    tickets = _feed(connector)
    first = connector.prefetch_comments(tickets)
    assert first
    again = connector.prefetch_comments([t for t in tickets if t.id in first])
    assert again == {}
    assert not connector._scan.children.keys() & first.keys()


def test_a_few_wanted_tickets_are_read_one_by_one_not_from_the_export(box: Sandbox) -> None:
    """Steady state: fewer wanted tickets than an export request is worth make no export read."""
    connector = _connector(box)
    tickets = _feed(connector)
    assert connector.prefetch_comments(tickets[: events.EXPORT_WEIGHT - 1]) == {}
    assert connector.calls["GET /api/v2/incremental/ticket_events.json"] == 0
