"""Freshdesk requester tags (contacts) and satisfaction (ratings listing), on recorded shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import responses

from esc_sync.connectors.base import MemoryCache
from esc_sync.connectors.freshdesk.people import CONTACT, contact_tags
from tests.connectors.freshdesk_helpers import BASE, connector, load, ticket

START = datetime(2026, 3, 1, tzinfo=UTC)
CONTACTS = f"{BASE}/api/v2/contacts"
RATINGS = f"{BASE}/api/v2/surveys/satisfaction_ratings"


def _contact(cid: int, tags: list[str] | None, updated: str = "2026-03-02T10:00:00Z") -> dict:
    """The recorded contact (search page), with an id, tags and update time."""
    raw = dict(load("search_contacts_page.json")["results"][0])
    raw.update(id=cid, updated_at=updated)
    if tags is not None:
        raw["tags"] = tags
    return raw


def test_a_recorded_contact_without_a_tags_key_has_unknown_tags_not_empty_ones() -> None:
    recorded = load("search_contacts_page.json")["results"][0]
    assert contact_tags(recorded) is None
    assert contact_tags({**recorded, "tags": ["VIP", "vip", "beta"]}) == ["vip", "beta"]


@responses.activate
def test_requester_tags_are_read_once_then_refreshed_by_the_listing() -> None:
    raw = ticket(1, "2026-03-04T10:00:00Z", requester_id=112)
    responses.get(CONTACTS, json=[])  # nothing changed yet
    responses.get(RATINGS, json=[])
    responses.get(f"{BASE}/api/v2/tickets", json=[raw])
    responses.get(f"{CONTACTS}/112", json=_contact(112, ["vip"]))
    fd = connector([], people=True)
    cache = MemoryCache()
    fd.use_cache(cache)

    [page] = list(fd.iter_changes(None, START))
    [t] = page.tickets
    assert t.requester.tags == ("vip",) and "requester.tags" not in t.unknown
    assert t.satisfaction == "none" and "satisfaction" not in t.unknown
    assert cache.get(CONTACT, "112") == {"tags": ["vip"]}

    # next cycle: the listing says the tag went away; no per-contact read
    responses.replace(responses.GET, CONTACTS, json=[_contact(112, [], "2026-03-04T11:00:00Z")])
    before = len(responses.calls)
    [page] = list(fd.iter_changes(page.bookmark, START))
    paths = [c.request.url.split("?")[0] for c in responses.calls[before:]]
    assert f"{CONTACTS}/112" not in paths
    contacts_call = next(c for c in responses.calls[before:] if c.request.url.startswith(CONTACTS))
    assert "_updated_since=2026-03-01T00%3A00%3A00Z" in contacts_call.request.url
    assert cache.get(CONTACT, "112") == {"tags": []}


@responses.activate
def test_satisfaction_comes_from_one_ratings_walk_not_a_request_per_ticket() -> None:
    raws = [ticket(i, "2026-03-04T10:00:00Z", requester_id=112) for i in (1, 2, 3)]
    responses.get(CONTACTS, json=[])
    responses.get(f"{CONTACTS}/112", json=_contact(112, []))
    responses.get(
        RATINGS,
        json=[
            {
                "id": 8,
                "ticket_id": 2,
                "ratings": {"default_question": 103},
                "created_at": "2026-03-02T00:00:00Z",
            },
            {
                "id": 9,
                "ticket_id": 2,
                "ratings": {"default_question": -103},
                "created_at": "2026-03-03T00:00:00Z",
            },
        ],
    )
    responses.get(f"{BASE}/api/v2/tickets", json=raws)
    fd = connector([], people=True)

    [page] = list(fd.iter_changes(None, START))

    assert [t.satisfaction for t in page.tickets] == ["none", "bad", "none"]
    assert sum(c.request.url.startswith(RATINGS) for c in responses.calls) == 1
    assert not any(
        "/satisfaction_ratings" in c.request.url.split("surveys")[0]
        for c in responses.calls
        if "/tickets/" in c.request.url
    )


@responses.activate
def test_no_surveys_on_the_plan_means_none_known_and_no_more_asking() -> None:
    responses.get(CONTACTS, json=[])
    responses.get(RATINGS, status=403, json=load("error_403_access_denied.json"))
    responses.get(f"{BASE}/api/v2/tickets", json=[ticket(1, "2026-03-04T10:00:00Z")])
    responses.get(f"{CONTACTS}/{ticket(1, 'x')['requester_id']}", status=404, json={})
    fd = connector([], people=True)

    [page] = list(fd.iter_changes(None, START))
    [t] = page.tickets
    assert t.satisfaction == "none" and "satisfaction" not in t.unknown
    assert "requester.tags" in t.unknown  # no readable contact: unknown, never empty
    list(fd.iter_changes(page.bookmark, START))
    assert sum(c.request.url.startswith(RATINGS) for c in responses.calls) == 1


@responses.activate
def test_contact_listing_pages_are_spaced_under_their_own_limit() -> None:
    nxt = {"Link": f'<{CONTACTS}?page=2>; rel="next"'}
    responses.get(CONTACTS, json=[_contact(5, ["a"])], headers=nxt)
    responses.get(CONTACTS, json=[_contact(6, ["b"])])
    responses.get(RATINGS, json=[])
    responses.get(f"{BASE}/api/v2/tickets", json=[])
    sleeps: list[float] = []
    fd = connector(sleeps, people=True)
    fd.people.clock = lambda: 100.0  # both pages "at once": the second waits 60/20 s

    list(fd.iter_changes(None, START))
    assert 3.0 in sleeps
