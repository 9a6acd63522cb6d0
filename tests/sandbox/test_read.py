"""Reading over HTTP: authentication, the cursor export, side-loads, tickets and comments."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import requests

from esc_sync.sandbox import BOT_EMAIL, Sandbox
from tests.frozen import frozen_sandbox, suite_now
from tests.sandbox.conftest import TOKEN, Client, open_ids

FIXTURES = Path("/work/shared/fixtures")


def export_all(client: Client, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Page through the export from start_time=0; returns the tickets and the final cursor."""
    query: dict[str, Any] = {"start_time": 0, **params}
    seen: list[dict[str, Any]] = []
    for _ in range(100):
        page = client.get("incremental/tickets/cursor.json", params=query).json()
        seen += page["tickets"]
        if page["end_of_stream"]:
            return seen, page["after_cursor"]
        query = {"cursor": page["after_cursor"], **params}
    raise AssertionError("the export never ended")


def test_requests_without_the_right_token_are_refused(box: Sandbox) -> None:
    url = f"{box.url}/api/v2/users/me.json"

    missing = requests.get(url, timeout=10)
    wrong = requests.get(url, auth=(f"{BOT_EMAIL}/token", "nope"), timeout=10)
    no_token_suffix = requests.get(url, auth=(BOT_EMAIL, TOKEN), timeout=10)

    for answer in (missing, wrong, no_token_suffix):
        assert answer.status_code == 401
        assert answer.json() == {"error": "Couldn't authenticate you"}


def test_users_me_is_the_bot(client: Client) -> None:
    answer = client.get("users/me.json")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    user = answer.json()["user"]
    assert (user["email"], user["role"], user["name"]) == (BOT_EMAIL, "admin", "Escalations Bot")


def test_json_suffix_is_optional(client: Client) -> None:
    assert client.get("tickets/1").json() == client.get("tickets/1.json").json()


def test_export_pages_through_every_ticket_in_order(client: Client, box: Sandbox) -> None:
    tickets, cursor = export_all(client, per_page=10)

    assert sorted(t["id"] for t in tickets) == sorted(box.store.tickets)
    positions = [(t["generated_timestamp"], t["id"]) for t in tickets]
    assert positions == sorted(positions)
    decoded = base64.b64decode(cursor).decode()
    assert re.fullmatch(r"\d+\.0\|\|\d+\|", decoded)
    assert decoded.endswith(f"||{tickets[-1]['id']}|")


def test_export_page_shape_matches_the_recorded_one(client: Client) -> None:
    recorded = json.loads(
        (FIXTURES / "synthetic/zendesk_incremental_tickets_cursor_page.json").read_text()
    )
    page = client.get(
        "incremental/tickets/cursor.json", params={"start_time": 0, "per_page": 10}
    ).json()

    assert set(page) == set(recorded)
    assert len(page["tickets"]) == 10 and page["end_of_stream"] is False
    assert page["before_url"] is None and page["before_cursor"] is None
    assert set(recorded["tickets"][0]) <= set(page["tickets"][0])
    follow = requests.get(page["after_url"], auth=(f"{BOT_EMAIL}/token", TOKEN), timeout=10).json()
    assert len(follow["tickets"]) == 10
    assert follow["tickets"][0]["id"] != page["tickets"][0]["id"]


def test_cursor_keeps_working_after_end_of_stream(client: Client, box: Sandbox) -> None:
    first, second = open_ids(box)[:2]
    _, cursor = export_all(client)

    idle = client.get("incremental/tickets/cursor.json", params={"cursor": cursor}).json()
    client.admin("POST", f"tickets/{first}/comments", json={"body": "Any news on this?"})
    client.put_ticket(second, {"priority": "high"})
    changed = client.get("incremental/tickets/cursor.json", params={"cursor": cursor}).json()
    after = client.get(
        "incremental/tickets/cursor.json", params={"cursor": changed["after_cursor"]}
    ).json()

    assert idle["tickets"] == [] and idle["end_of_stream"] is True
    assert idle["after_cursor"] == cursor
    assert [t["id"] for t in changed["tickets"]] == [first, second]
    assert after["tickets"] == [] and after["end_of_stream"] is True


def test_changes_in_the_same_second_are_not_missed(client: Client, box: Sandbox) -> None:
    writable = open_ids(box)
    ids = [writable[-1], writable[1], writable[0]]  # descending ids inside one second
    _, cursor = export_all(client)
    seen: list[int] = []
    for ticket_id in ids:
        client.put_ticket(ticket_id, {"tags": ["touched"]})
        page = client.get("incremental/tickets/cursor.json", params={"cursor": cursor}).json()
        seen += [t["id"] for t in page["tickets"]]
        cursor = page["after_cursor"]

    assert seen == ids


def test_recent_window_hides_fresh_changes_until_they_age() -> None:
    with frozen_sandbox(token=TOKEN, recent_window=2, incremental_limit=1000) as box:
        client = Client(box)
        _, cursor = export_all(client)
        target = open_ids(box)[0]
        client.put_ticket(target, {"priority": "urgent"})

        hidden = client.get("incremental/tickets/cursor.json", params={"cursor": cursor}).json()
        time.sleep(2.2)
        shown = client.get("incremental/tickets/cursor.json", params={"cursor": cursor}).json()

    assert hidden["tickets"] == [] and hidden["end_of_stream"] is True
    assert hidden["after_cursor"] == cursor
    assert [t["id"] for t in shown["tickets"]] == [target]


def test_start_time_in_the_future_and_bad_cursors_are_refused(client: Client) -> None:
    now = int(suite_now().timestamp())
    future = client.get("incremental/tickets/cursor.json", params={"start_time": now + 3600})
    bad = client.get("incremental/tickets/cursor.json", params={"cursor": "bm90IGEgY3Vyc29y"})
    neither = client.get("incremental/tickets/cursor.json")
    past = client.get(
        "incremental/tickets/cursor.json", params={"start_time": now - 10}
    )

    assert future.status_code == 422 and future.json()["error"] == "InvalidValue"
    assert bad.status_code == 400 and neither.status_code == 400
    assert past.status_code == 200 and past.json()["tickets"] == []


def test_export_side_loads_users_organizations_and_metric_sets(
    client: Client, box: Sandbox
) -> None:
    page = client.get(
        "incremental/tickets/cursor.json",
        params={"start_time": 0, "include": "users,organizations,metric_sets"},
    ).json()

    tickets = page["tickets"]
    users = {u["id"]: u for u in page["users"]}
    orgs = {o["id"]: o for o in page["organizations"]}
    metrics = {m["ticket_id"]: m for m in page["metric_sets"]}
    assert all(t["requester_id"] in users for t in tickets)
    assert all(t["organization_id"] in orgs for t in tickets if t["organization_id"])
    assert set(metrics) == {t["id"] for t in tickets}
    assert {o["name"]: o["tags"] for o in orgs.values()}["Globex"] == ["vip", "gold"]
    by_rule = {
        r: [i for i, e in box.expectations.items() if r in e["rules"]]
        for r in ("urgent-no-reply", "repeat-issue")
    }
    for tid in by_rule["urgent-no-reply"]:
        assert (
            metrics[tid]["replies"] == 0
            and metrics[tid]["reply_time_in_minutes"]["calendar"] is None
        )
    assert any(metrics[tid]["reopens"] == 2 for tid in by_rule["repeat-issue"])


def test_show_ticket_and_its_404(client: Client) -> None:
    shown = client.get("tickets/1.json", params={"include": "users,groups"}).json()
    missing = client.get("tickets/99999.json")
    recorded = json.loads((FIXTURES / "zendesk/ticket_show.json").read_text())["ticket"]

    assert set(recorded) <= set(shown["ticket"])
    assert "generated_timestamp" not in shown["ticket"]
    assert shown["users"] and shown["groups"][0]["id"] == shown["ticket"]["group_id"]
    assert missing.status_code == 404
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_show_many_keeps_order_and_refuses_more_than_100_ids(client: Client) -> None:
    many = client.get(
        "tickets/show_many.json", params={"ids": "3,1,99999,2", "include": "metric_sets"}
    ).json()
    too_many = client.get(
        "tickets/show_many.json", params={"ids": ",".join(map(str, range(1, 102)))}
    )

    assert [t["id"] for t in many["tickets"]] == [3, 1, 2]
    assert len(many["metric_sets"]) == 3
    assert too_many.status_code == 400
    assert too_many.json()["error"] == "TooManyValues"


def test_tickets_list_uses_offset_pages(client: Client, box: Sandbox) -> None:
    first = client.get("tickets.json", params={"per_page": 50}).json()
    second = requests.get(first["next_page"], auth=(f"{BOT_EMAIL}/token", TOKEN), timeout=10).json()

    assert first["count"] == len(box.store.tickets)
    assert len(first["tickets"]) == 50 and first["previous_page"] is None
    assert [t["id"] for t in first["tickets"] + second["tickets"]] == sorted(box.store.tickets)
    assert second["next_page"] is None


def test_comments_are_cursor_paginated_oldest_first(client: Client, box: Sandbox) -> None:
    tid = next(t.id for t in box.store.tickets.values() if len(t.comments) == 5)
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page[size]": 2, "include": "users"}
    while True:
        page = client.get(f"tickets/{tid}/comments.json", params=params).json()
        pages.append(page)
        if not page["meta"]["has_more"]:
            break
        params = {"page[size]": 2, "page[after]": page["meta"]["after_cursor"]}

    comments = [c for p in pages for c in p["comments"]]
    assert [len(p["comments"]) for p in pages] == [2, 2, 1]
    assert [c["created_at"] for c in comments] == sorted(c["created_at"] for c in comments)
    assert comments[0]["body"] == box.store.tickets[tid].comments[0].body
    assert pages[0]["links"]["next"] and pages[-1]["links"]["next"] is None
    assert {u["id"] for u in pages[0]["users"]} == {c["author_id"] for c in pages[0]["comments"]}
    keys = {
        "id",
        "type",
        "author_id",
        "body",
        "html_body",
        "plain_body",
        "public",
        "attachments",
        "audit_id",
        "via",
        "metadata",
        "created_at",
    }
    assert keys <= set(comments[0]) and comments[0]["type"] == "Comment"


def test_comments_include_internal_notes_as_private(client: Client, box: Sandbox) -> None:
    tid = next(t.id for t in box.store.tickets.values() if any(not c.public for c in t.comments))

    comments = client.get(f"tickets/{tid}/comments.json").json()["comments"]

    assert any(c["public"] is False for c in comments)


def test_every_response_carries_rate_limit_headers(client: Client) -> None:
    for answer in (client.get("users/me.json"), client.get("tickets/99999.json")):
        for name in (
            "x-rate-limit",
            "x-rate-limit-remaining",
            "rate-limit",
            "rate-limit-remaining",
            "rate-limit-reset",
        ):
            assert answer.headers[name].isdigit()
    assert client.get("users/me.json").headers["x-rate-limit"] == "700"
