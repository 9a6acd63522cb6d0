"""The change feed: cursor incremental export, bookmarks, stalls and skipped records."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.errors import PaginationStalled
from tests.connectors.zendesk_payloads import BASE, incremental_page, template_ticket

EXPORT = f"{BASE}/api/v2/incremental/tickets/cursor.json"
START = datetime(2019, 6, 1, 0, 0, tzinfo=UTC)


def query(call: responses.Call) -> dict[str, list[str]]:
    """The query parameters of a recorded request."""
    return parse_qs(urlsplit(call.request.url).query)


def test_first_call_sends_start_time_then_cursors(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(EXPORT, json=incremental_page(template_ticket(id=2), after="c1", end=False))
    api.get(EXPORT, json=incremental_page(template_ticket(id=3), after="c2", end=True))

    pages = list(zd.iter_changes(None, START))

    assert [p.bookmark for p in pages] == ["c1", "c2"]
    assert [[t.id for t in p.tickets] for p in pages] == [[2], [3]]
    first, second = (query(c) for c in api.calls)
    assert first == {
        "start_time": ["1559347200"],
        "include": ["users,organizations,metric_sets"],
        "per_page": ["500"],
    }
    assert second == {
        "cursor": ["c1"],
        "include": ["users,organizations,metric_sets"],
        "per_page": ["500"],
    }


def test_a_stored_bookmark_resumes_with_the_cursor_only(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(EXPORT, json=incremental_page(after="MTU1OTY5NzIwNC4wfHwyfA==", end=True))
    list(zd.iter_changes("MTU1OTY5NzIwNC4wfHwxfA==", START))
    sent = query(api.calls[0])
    assert sent["cursor"] == ["MTU1OTY5NzIwNC4wfHwxfA=="]
    assert "start_time" not in sent


def test_end_of_stream_page_keeps_its_after_cursor(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(EXPORT, json=incremental_page(after="MTU1OTY5NzIwNC4wfHwyfA==", end=True))
    (page,) = zd.iter_changes(None, START)
    assert page.end_of_stream is True
    assert page.bookmark == "MTU1OTY5NzIwNC4wfHwyfA=="


def test_an_empty_page_that_is_not_the_end_continues(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    empty = incremental_page(after="c1", end=False)
    empty["tickets"] = []
    api.get(EXPORT, json=empty)
    api.get(EXPORT, json=incremental_page(template_ticket(id=7), after="c2", end=True))
    pages = list(zd.iter_changes(None, START))
    assert [len(p.tickets) for p in pages] == [0, 1]
    assert pages[-1].bookmark == "c2"


def test_a_repeated_cursor_raises_pagination_stalled(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(EXPORT, json=incremental_page(after="c1", end=False))
    api.get(EXPORT, json=incremental_page(after="c1", end=False))
    feed = zd.iter_changes(None, START)
    assert next(feed).bookmark == "c1"
    with pytest.raises(PaginationStalled):
        next(feed)


def test_a_missing_cursor_before_the_end_raises(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    page = incremental_page(after="c1", end=False)
    page["after_cursor"] = None
    api.get(EXPORT, json=page)
    with pytest.raises(PaginationStalled):
        list(zd.iter_changes("c0", START))


def test_a_malformed_record_is_skipped_and_the_page_continues(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    broken = template_ticket(id=5, updated_at="yesterday")
    no_id = template_ticket(id="x")
    api.get(
        EXPORT,
        json=incremental_page(
            template_ticket(id=4), broken, no_id, template_ticket(id=6), after="c", end=True
        ),
    )
    (page,) = zd.iter_changes(None, START)
    assert [t.id for t in page.tickets] == [4, 6]
    assert [(s.ticket_id, s.reason) for s in page.skipped] == [
        (5, "malformed: updated_at is not a timestamp: 'yesterday'"),
        (None, "malformed: ticket id is missing or not an integer: 'x'"),
    ]


def test_deleted_tickets_are_skipped_not_failed(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(
        EXPORT,
        json=incremental_page(
            template_ticket(id=8, status="deleted"), template_ticket(id=9), after="c", end=True
        ),
    )
    (page,) = zd.iter_changes(None, START)
    assert [t.id for t in page.tickets] == [9]
    assert [(s.ticket_id, s.reason) for s in page.skipped] == [(8, "deleted")]


def test_worker_tasks_are_flagged(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    task = template_ticket(id=11, type="task", external_id="esc-sync:task:2:sla:1")
    api.get(EXPORT, json=incremental_page(task, template_ticket(id=12), after="c", end=True))
    (page,) = zd.iter_changes(None, START)
    assert [(t.id, t.is_worker_task) for t in page.tickets] == [(11, True), (12, False)]
