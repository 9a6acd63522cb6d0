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


def test_the_pages_of_one_feed_read_the_export_once(box: Sandbox) -> None:
    """Prefetches page by page (as the worker does) reuse what earlier ones read, and what they
    hand back still equals the per-ticket reads."""
    all_at_once = _connector(box)
    tickets = _feed(all_at_once)
    all_at_once.prefetch_comments(tickets)
    once = all_at_once.calls["GET /api/v2/incremental/ticket_events.json"]

    connector = _connector(box)
    tickets = sorted(_feed(connector), key=lambda t: (t.updated_at, t.id))
    found: dict[int, object] = {}
    for i in range(0, len(tickets), 25):
        found.update(connector.prefetch_comments(tickets[i : i + 25]))
    paged = connector.calls["GET /api/v2/incremental/ticket_events.json"]

    assert paged <= once + 1, (paged, once)
    assert len(found) >= len(tickets) // 2
    for ticket in tickets:
        if ticket.id in found:
            assert derive_comment_fields(ticket, found[ticket.id]) == connector.load_comments(
                ticket
            ), ticket.id  # type: ignore[arg-type]


def test_a_full_cache_is_forgotten_and_read_again(box: Sandbox) -> None:
    """Past its bound the kept scan is dropped: the next prefetch reads the export again."""
    connector = _connector(box)
    tickets = _feed(connector)
    connector._scan.limit = 1
    connector.prefetch_comments(tickets)
    assert connector._scan.start is None
    before = connector.calls["GET /api/v2/incremental/ticket_events.json"]
    assert connector.prefetch_comments(tickets)
    assert connector.calls["GET /api/v2/incremental/ticket_events.json"] > before


def test_the_kept_scan_is_bounded_for_tickets_not_asked_for(box: Sandbox) -> None:
    """Comments of tickets not asked for stop being kept at the bound (and the scan is then
    forgotten); the tickets asked for still come back complete."""
    connector = _connector(box)
    tickets = sorted(_feed(connector), key=lambda t: (t.updated_at, t.id))
    connector._scan.limit = 5
    some = tickets[-20:]
    found = connector.prefetch_comments(some)
    assert connector._scan.start is None  # lossy: forgotten after this prefetch
    assert found
    for ticket in some:
        if ticket.id in found:
            assert derive_comment_fields(ticket, found[ticket.id]) == connector.load_comments(
                ticket
            ), ticket.id
