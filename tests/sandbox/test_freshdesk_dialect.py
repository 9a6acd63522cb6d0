"""The sandbox speaking Freshdesk: same seed, Freshdesk auth, shapes, pagination and limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from esc_sync.sandbox import Sandbox
from esc_sync.sandbox.freshdesk_render import STATUS_CODE
from esc_sync.sandbox.render import iso
from tests.frozen import frozen_sandbox

KEY = "fd-test-key"


@pytest.fixture()
def fd() -> Iterator[Sandbox]:
    """A Freshdesk-speaking sandbox."""
    with frozen_sandbox(token=KEY, recent_window=0, dialect="freshdesk") as box:
        yield box


def call(box: Sandbox, method: str, path: str, key: str = KEY, **kw: Any) -> requests.Response:
    """One API call with the API key as the Basic user name and `X` as the password."""
    return requests.request(method, f"{box.url}/api/v2/{path}", auth=(key, "X"), timeout=10, **kw)


def test_auth_is_the_api_key_with_any_password(fd: Sandbox) -> None:
    assert call(fd, "GET", "agents/me").json()["contact"]["email"] == "escalations-bot@sandbox.test"
    refused = call(fd, "GET", "agents/me", key="nope")
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"


def test_the_list_is_a_bare_array_with_link_headers_and_rate_headers(fd: Sandbox) -> None:
    since = iso(fd.store.now() - timedelta(days=400))
    q = {"updated_since": since, "order_by": "updated_at", "order_type": "asc", "per_page": 10}
    first = call(fd, "GET", "tickets", params=q | {"include": "requester,stats"})

    assert isinstance(first.json(), list) and len(first.json()) == 10
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert first.headers["X-RateLimit-Used-CurrentRequest"] == "3"
    assert int(first.headers["X-RateLimit-Remaining"]) < int(first.headers["X-RateLimit-Total"])
    stamps = [t["updated_at"] for t in first.json()]
    assert stamps == sorted(stamps) and "stats" in first.json()[0]
    last = call(fd, "GET", "tickets", params=q | {"per_page": 100})
    assert "Link" not in last.headers and len(last.json()) == len(fd.store.tickets)


def test_page_301_and_big_pages_are_refused(fd: Sandbox) -> None:
    beyond = call(fd, "GET", "tickets", params={"page": 301})
    assert beyond.status_code == 400 and beyond.json()["errors"][0]["field"] == "page"
    assert call(fd, "GET", "tickets", params={"per_page": 101}).status_code == 400


def test_without_updated_since_only_the_last_30_days_of_creations_come_back(fd: Sandbox) -> None:
    floor = fd.store.now() - timedelta(days=30)
    recent = {t.id for t in fd.store.tickets.values() if t.created_at >= floor}
    got = call(fd, "GET", "tickets", params={"per_page": 100}).json()
    assert {t["id"] for t in got} == recent and len(recent) < len(fd.store.tickets)


def test_writes_are_flat_and_validated_the_freshdesk_way(fd: Sandbox) -> None:
    tid = min(t.id for t in fd.store.tickets.values() if t.status not in ("closed",))
    bad = call(fd, "PUT", f"tickets/{tid}", json={"ticket": {"priority": 4}})
    assert bad.status_code == 400 and bad.json()["errors"][0] == {
        "field": "ticket",
        "message": "Unexpected/invalid field in request",
        "code": "invalid_field",
    }
    order = call(
        fd,
        "PUT",
        f"tickets/{tid}",
        json={"fr_due_by": "2030-01-02T00:00:00Z", "due_by": "2030-01-01T00:00:00Z"},
    )
    assert order.status_code == 400 and order.json()["errors"][0]["field"] == "due_by"

    ok = call(
        fd,
        "PUT",
        f"tickets/{tid}",
        json={
            "priority": 4,
            "group_id": 360000002,
            "custom_fields": {"cf_escalation_status": "t2"},
        },
    )
    assert ok.status_code == 200 and ok.json()["priority"] == 4
    note = call(
        fd,
        "POST",
        f"tickets/{tid}/notes",
        json={"body": "<p>esc-sync:x:t2:ep1</p>", "private": True},
    )
    assert note.status_code == 201 and note.json()["private"] is True

    stored = requests.get(f"{fd.url}/__sandbox/tickets/{tid}", timeout=10).json()["ticket"]
    assert stored["group_id"] == 360000002 and stored["priority"] == "urgent"
    assert (
        stored["comments"][-1] | {"public": False, "body": "esc-sync:x:t2:ep1"}
        == stored["comments"][-1]
    )


def test_statuses_and_conversations_match_the_seed(fd: Sandbox) -> None:
    ticket = next(t for t in fd.store.tickets.values() if len(t.comments) > 1)
    shown = call(fd, "GET", f"tickets/{ticket.id}").json()
    assert shown["status"] == STATUS_CODE[ticket.status]
    convs = call(fd, "GET", f"tickets/{ticket.id}/conversations").json()
    assert [c["id"] for c in convs] == [c.id for c in ticket.comments[1:]]


def test_the_minute_budget_answers_429_with_retry_after() -> None:
    with frozen_sandbox(token=KEY, dialect="freshdesk", account_limit=3) as box:
        statuses = [call(box, "GET", "agents/me").status_code for _ in range(4)]
        limited = call(box, "GET", "agents/me")
    assert statuses[:3] == [200, 200, 200] and limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
