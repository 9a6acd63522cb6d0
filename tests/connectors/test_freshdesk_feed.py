"""The Freshdesk change feed against recorded list payloads: Link pages, re-anchoring, the wall."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from esc_sync.connectors.freshdesk.feed import MAX_PAGES, FeedCursor
from esc_sync.errors import PaginationStalled
from tests.connectors.freshdesk_helpers import BASE, connector, load, ticket

LIST = f"{BASE}/api/v2/tickets"
START = datetime(2015, 8, 1, tzinfo=UTC)
PILE_UP = datetime(2024, 3, 3, tzinfo=UTC)  # 30,000 tickets changed in this very second


def link(page: int) -> dict[str, str]:
    """A Link header pointing at `page`, in Freshdesk's format."""
    return {"Link": f'<{LIST}?per_page=100&page={page}&updated_since=x>; rel="next"'}


def params(call: Any) -> dict[str, str]:
    """The query parameters of a recorded call."""
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_last_page_without_link_ends_the_stream_and_sends_every_parameter() -> None:
    responses.get(LIST, json=load("tickets_list_page.json"))
    pages = list(connector([]).iter_changes(None, START))

    assert len(pages) == 1 and pages[0].end_of_stream
    assert [t.id for t in pages[0].tickets] == [18, 17]
    sent = params(responses.calls[0])
    assert sent == {
        "updated_since": "2015-08-01T00:00:00Z",
        "order_by": "updated_at",
        "order_type": "asc",
        "per_page": "100",
        "include": "description,requester,stats",
        "page": "1",
    }
    bookmark = json.loads(pages[0].bookmark)
    # the recorded page is not in ascending order: the latest instant wins
    assert bookmark == {"updated_since": "2015-08-17T12:02:51Z", "seen": [18]}


@responses.activate
def test_each_page_re_anchors_and_drops_duplicates_at_the_boundary() -> None:
    first = [
        ticket(1, "2024-01-01T10:00:00Z"),
        ticket(2, "2024-01-01T10:00:05Z"),
        ticket(3, "2024-01-01T10:00:05Z"),
    ]
    again = [
        ticket(2, "2024-01-01T10:00:05Z"),
        ticket(3, "2024-01-01T10:00:05Z"),
        ticket(4, "2024-01-01T10:00:05Z"),
        ticket(5, "2024-01-01T10:01:00Z"),
    ]
    responses.get(LIST, json=first, headers=link(2))
    responses.get(LIST, json=again)

    pages = list(connector([]).iter_changes(None, START))

    assert [[t.id for t in p.tickets] for p in pages] == [[1, 2, 3], [4, 5]]
    second = params(responses.calls[1])
    assert second["updated_since"] == "2024-01-01T10:00:05Z" and second["page"] == "1"
    assert json.loads(pages[-1].bookmark) == {"updated_since": "2024-01-01T10:01:00Z", "seen": [5]}


@responses.activate
def test_a_bookmark_resumes_at_its_instant_without_repeating_seen_ids() -> None:
    responses.get(LIST, json=[ticket(7, "2024-02-02T00:00:00Z"), ticket(8, "2024-02-02T00:00:00Z")])
    bookmark = FeedCursor(datetime(2024, 2, 2, tzinfo=UTC), frozenset({7})).encode()

    pages = list(connector([]).iter_changes(bookmark, START))

    assert [t.id for t in pages[0].tickets] == [8]
    assert params(responses.calls[0])["updated_since"] == "2024-02-02T00:00:00Z"
    assert json.loads(pages[0].bookmark)["seen"] == [7, 8]


def _pile_up(last_page_moves: bool) -> Any:
    """A callback serving 300 pages at one instant; page 300 may end one second later."""

    def serve(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        page, since = int(query["page"]), query["updated_since"]
        if since == "2024-03-03T00:00:01Z":  # the re-anchored walk: boundary duplicate + new
            body = [ticket(30_000, "2024-03-03T00:00:01Z"), ticket(30_001, "2024-03-03T00:00:02Z")]
            return 200, {}, json.dumps(body)
        body = [ticket(page * 100 + i, "2024-03-03T00:00:00Z") for i in range(100)]
        if page == MAX_PAGES and last_page_moves:
            body[-1] = ticket(30_000, "2024-03-03T00:00:01Z")
        return 200, link(page + 1), json.dumps(body)

    return serve


@responses.activate
def test_three_hundred_pages_at_one_instant_then_re_anchor_with_the_boundary_duplicate() -> None:
    responses.add_callback(responses.GET, LIST, callback=_pile_up(last_page_moves=True))

    pages = list(connector([]).iter_changes(None, PILE_UP))

    requested = [params(c) for c in responses.calls]
    assert [r["page"] for r in requested[:MAX_PAGES]] == [str(n) for n in range(1, 301)]
    assert requested[MAX_PAGES] == requested[MAX_PAGES] | {
        "page": "1",
        "updated_since": "2024-03-03T00:00:01Z",
    }
    assert all(int(r["page"]) <= MAX_PAGES for r in requested)  # page 301 never asked for
    assert [t.id for t in pages[-1].tickets] == [30_001]  # 30000 was the boundary duplicate
    assert sum(len(p.tickets) for p in pages) == 30_001


@responses.activate
def test_a_pile_up_beyond_the_wall_stalls_instead_of_asking_for_page_301() -> None:
    responses.add_callback(responses.GET, LIST, callback=_pile_up(last_page_moves=False))

    with pytest.raises(PaginationStalled, match="300 pages"):
        list(connector([]).iter_changes(None, PILE_UP))
    assert max(int(params(c)["page"]) for c in responses.calls) == MAX_PAGES


@responses.activate
def test_a_next_link_that_does_not_advance_is_a_stall() -> None:
    same = [ticket(1, "2024-01-01T00:00:00Z")]
    responses.get(LIST, json=same, headers=link(1))

    with pytest.raises(PaginationStalled, match="next page 1 after page 1"):
        list(connector([]).iter_changes(None, datetime(2024, 1, 1, tzinfo=UTC)))


@responses.activate
def test_one_bad_ticket_is_skipped_and_the_page_moves_on() -> None:
    bad = ticket(2, "2024-01-01T00:00:01Z", status=42)
    responses.get(
        LIST, json=[ticket(1, "2024-01-01T00:00:00Z"), bad, ticket(3, "2024-01-01T00:00:02Z")]
    )

    page = next(connector([]).iter_changes(None, START))

    assert [t.id for t in page.tickets] == [1, 3]
    assert page.skipped[0].ticket_id == 2 and "unknown status 42" in page.skipped[0].reason
    assert json.loads(page.bookmark)["updated_since"] == "2024-01-01T00:00:02Z"
