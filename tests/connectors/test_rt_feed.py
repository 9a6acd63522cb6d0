"""The RT change feed on captured search pages: the query, paging, one-second overlap, dedupe."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from esc_sync.connectors.rt.feed import FeedCursor
from esc_sync.errors import AuthError
from tests.connectors.rt_payloads import API, connector, item, load, page, params

TICKETS = f"{API}/tickets"
START = datetime(2026, 11, 22, 19, 0, 0, 123456, tzinfo=UTC)


@responses.activate
def test_first_run_searches_from_start_with_every_field_and_reads_the_captured_page() -> None:
    responses.get(TICKETS, json=load("tickets_search_page.json"))

    pages = list(connector().iter_changes(None, START))

    assert len(pages) == 1 and pages[0].end_of_stream
    assert [t.id for t in pages[0].tickets] == [7]
    sent = params(responses.calls[0])
    assert sent["query"] == ["LastUpdated >= '2026-11-22 19:00:00'"]
    assert sent["orderby"] == ["LastUpdated", "id"] and sent["order"] == ["ASC", "ASC"]
    assert sent["page"] == ["1"] and sent["per_page"] == ["100"]
    assert sent["fields"] == [
        "Subject,Status,Priority,Queue,Owner,Requestor,Created,LastUpdated,CustomFields"
    ]
    assert sent["fields[Requestor]"] == ["id,Name,EmailAddress,RealName,Organization,CustomFields"]
    assert json.loads(pages[0].bookmark) == {
        "updated_since": "2026-11-22T19:55:42Z",
        "seen": [7],
    }
    assert responses.calls[0].request.headers["Authorization"].startswith("token 1-33-")


@responses.activate
def test_the_bookmark_second_is_read_again_and_tickets_seen_at_it_are_dropped() -> None:
    bookmark = FeedCursor(datetime(2026, 11, 22, 19, 55, 42, tzinfo=UTC), frozenset({7})).encode()
    responses.get(
        TICKETS,
        json=page(
            [
                item(id="7", LastUpdated="2026-11-22T19:55:42Z"),  # seen: the overlap
                item(id="9", LastUpdated="2026-11-22T19:55:42Z"),  # same second, new
                item(id="7", LastUpdated="2026-11-22T19:55:43Z"),  # 7 changed again: new
            ]
        ),
    )

    (only,) = connector().iter_changes(bookmark, START)

    assert params(responses.calls[0])["query"] == ["LastUpdated >= '2026-11-22 19:55:42'"]
    assert [(t.id, t.updated_at.second if t.updated_at else None) for t in only.tickets] == [
        (9, 42),
        (7, 43),
    ]
    assert json.loads(only.bookmark) == {"updated_since": "2026-11-22T19:55:43Z", "seen": [7]}


@responses.activate
def test_a_full_page_re_anchors_at_its_last_second_and_the_next_page_drops_the_overlap() -> None:
    first = [item(id=str(i), LastUpdated=f"2026-11-22T19:00:{i:02d}Z") for i in (1, 2, 3)]
    second = [
        item(id="3", LastUpdated="2026-11-22T19:00:03Z"),  # the overlap: seen on page one
        item(id="4", LastUpdated="2026-11-22T19:00:03Z"),
        item(id="5", LastUpdated="2026-11-22T19:00:07Z"),
    ]
    responses.get(TICKETS, json=page(first, per_page=3))
    responses.get(TICKETS, json=page(second, per_page=3))
    responses.get(TICKETS, json=page([item(id="5", LastUpdated="2026-11-22T19:00:07Z")]))

    pages = list(connector(page_size=3).iter_changes(None, START))

    assert [[t.id for t in p.tickets] for p in pages] == [[1, 2, 3], [4, 5], []]
    assert [p.end_of_stream for p in pages] == [False, False, True]
    queries = [(params(c)["query"][0][-9:-1], params(c)["page"][0]) for c in responses.calls]
    assert queries == [("19:00:00", "1"), ("19:00:03", "1"), ("19:00:07", "1")]
    assert json.loads(pages[-1].bookmark) == {"updated_since": "2026-11-22T19:00:07Z", "seen": [5]}


@responses.activate
def test_a_page_all_at_one_second_moves_to_the_next_page_of_the_same_query() -> None:
    at = datetime(2026, 11, 22, 19, 0, 5, tzinfo=UTC)
    same = [item(id=str(i), LastUpdated="2026-11-22T19:00:05Z") for i in (1, 2)]
    responses.get(TICKETS, json=page(same, per_page=2))
    responses.get(TICKETS, json=page([item(id="3", LastUpdated="2026-11-22T19:00:05Z")]))

    pages = list(connector(page_size=2).iter_changes(FeedCursor(at).encode(), START))

    assert [[t.id for t in p.tickets] for p in pages] == [[1, 2], [3]]
    assert [params(c)["page"] for c in responses.calls] == [["1"], ["2"]]
    assert json.loads(pages[-1].bookmark)["seen"] == [1, 2, 3]


@responses.activate
def test_bookmark_round_trip_resumes_where_the_last_page_ended() -> None:
    responses.get(TICKETS, json=load("tickets_search_page.json"))
    (first,) = connector().iter_changes(None, START)
    responses.get(TICKETS, json=load("tickets_search_page.json"))

    (again,) = connector().iter_changes(first.bookmark, START)

    assert again.tickets == [] and again.bookmark == first.bookmark
    assert params(responses.calls[1])["query"] == ["LastUpdated >= '2026-11-22 19:55:42'"]


@responses.activate
def test_an_unreadable_bookmark_starts_from_start() -> None:
    responses.get(TICKETS, json=page([]))
    (only,) = connector().iter_changes("not-json", START)
    assert only.end_of_stream
    assert params(responses.calls[0])["query"] == ["LastUpdated >= '2026-11-22 19:00:00'"]


@responses.activate
def test_malformed_and_deleted_records_are_skipped_with_reasons_naming_ticket_and_field() -> None:
    responses.get(
        TICKETS,
        json=page(
            [
                item(id="11", Priority="high"),
                item(id="12", Status="deleted"),
                item(id="13", Status="waiting"),
                item(id="14", LastUpdated="yesterday"),
                item(id="15"),
            ]
        ),
    )

    (only,) = connector().iter_changes(None, START)

    assert [t.id for t in only.tickets] == [15]
    reasons = {s.ticket_id: s.reason for s in only.skipped}
    assert reasons[11] == "malformed: ticket 11: Priority: not a number: 'high'"
    assert reasons[12] == "deleted"
    assert reasons[13].startswith("malformed: ticket 13: Status: unknown status 'waiting'")
    assert reasons[14] == "malformed: ticket 14: no LastUpdated"


@responses.activate
def test_follow_up_tasks_come_through_flagged_as_the_worker_s_own() -> None:
    responses.get(TICKETS, json=load("tickets_search_task.json"))

    (only,) = connector().iter_changes(None, START)

    (task,) = only.tickets
    assert task.is_worker_task and task.external_id == "esc-sync:rt:7:ep1:t2:call-customer"
    assert task.tier == "t2"


@responses.activate
def test_the_first_page_checks_once_that_rt_reads_dates_as_utc() -> None:
    responses.get(TICKETS, json=load("tickets_search_page.json"))
    responses.get(TICKETS, json=load("tickets_search_page.json"))  # the probe finds ticket 7
    rt = connector(zone_checked=False)

    list(rt.iter_changes(None, START))

    probe = params(responses.calls[1])["query"][0]
    assert probe == (
        "id = 7 AND Created >= '2026-11-22 19:55:41' AND Created < '2026-11-22 19:55:42'"
    )
    assert rt.zone_checked and rt.calls["GET /tickets"] == 2


@responses.activate
def test_a_bot_user_in_another_time_zone_stops_the_connector() -> None:
    responses.get(TICKETS, json=load("tickets_search_page.json"))
    responses.get(TICKETS, json=page([]))  # Berlin time: the UTC second finds nothing
    with pytest.raises(AuthError, match="time zone other than UTC"):
        list(connector(zone_checked=False).iter_changes(None, START))
