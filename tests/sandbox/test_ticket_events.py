"""The ticket-event export: comment text in bulk, pages that never split a second."""

from __future__ import annotations

from typing import Any

from esc_sync.sandbox import Sandbox

from .conftest import Client


def _all_events(client: Client, include: str = "comment_events") -> list[dict[str, Any]]:
    """Every event from start_time 0, following next_page (deduplicated by id)."""
    seen: dict[int, dict[str, Any]] = {}
    start = 0
    for _ in range(100):
        body = client.get(
            "incremental/ticket_events.json", params={"start_time": start, "include": include}
        ).json()
        for event in body["ticket_events"]:
            seen[event["id"]] = event
        if body["end_of_stream"]:
            return list(seen.values())
        start = body["end_time"] if body["end_time"] != start else start + 1
    raise AssertionError("the export never ended")


def test_every_comment_appears_once_with_its_text(client: Client, box: Sandbox) -> None:
    """With include=comment_events each comment is a child event with body, author, public."""
    events = _all_events(client)
    comments = {
        c["id"]: (e["ticket_id"], c)
        for e in events
        for c in e["child_events"]
        if c.get("event_type") == "Comment"
    }
    stored = {c.id: (t.id, c) for t in box.store.tickets.values() for c in t.comments}
    assert set(comments) == set(stored)
    for cid, (tid, child) in comments.items():
        assert tid == stored[cid][0]
        assert child["body"] == stored[cid][1].body
        assert child["public"] is stored[cid][1].public
        assert child["author_id"] == stored[cid][1].author_id


def test_without_the_side_load_only_flags(client: Client) -> None:
    """Without include=comment_events a comment shows only as comment_present."""
    body = client.get("incremental/ticket_events.json", params={"start_time": 0}).json()
    children = [c for e in body["ticket_events"] for c in e["child_events"]]
    assert children and all("body" not in c for c in children)


def test_pages_restart_at_end_time_and_never_split_a_second(box: Sandbox, client: Client) -> None:
    """A page's next_page starts at its end_time; the boundary second is complete on it."""
    body = client.get("incremental/ticket_events.json", params={"start_time": 0}).json()
    stamps = [e["timestamp"] for e in body["ticket_events"]]
    assert stamps == sorted(stamps)
    assert f"start_time={body['end_time']}" in body["next_page"]


def test_too_recent_or_missing_start_time(client: Client) -> None:
    """A start_time in the future answers 422; none at all answers 400."""
    future = client.get("incremental/ticket_events.json", params={"start_time": 2**40})
    assert future.status_code == 422
    assert client.get("incremental/ticket_events.json").status_code == 400
