"""Freshdesk reads, writes and errors against the recorded payloads (helpdesk-apis.md §B)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import responses
from responses import matchers

from esc_sync.connectors import build_connector
from esc_sync.connectors.freshdesk import FreshdeskConnector
from esc_sync.connectors.freshdesk.normalize import normalize_ticket
from esc_sync.errors import AuthError, ConflictError, SkippableError
from esc_sync.model import TaskCreate, TicketUpdate
from tests.connectors.freshdesk_helpers import BASE, FIXTURES, KEY, T2, connector, load, profile

TICKET = f"{BASE}/api/v2/tickets/1"
SHARED = FIXTURES.parents[3] / "shared" / "fixtures" / "freshdesk"


def test_recorded_copies_are_byte_identical_to_the_shared_fixtures() -> None:
    if not SHARED.is_dir():
        pytest.skip("shared fixtures not present")
    for copy in FIXTURES.glob("*.json"):
        assert copy.read_bytes() == (SHARED / copy.name).read_bytes(), copy.name


def test_build_connector_knows_freshdesk() -> None:
    assert isinstance(build_connector(profile()), FreshdeskConnector)


def test_a_ticket_with_null_deadlines_normalises() -> None:
    t = normalize_ticket(load("ticket_show.json"), profile(), {})

    assert (t.id, t.status, t.priority, t.type, t.tags) == (
        49548,
        "open",
        "normal",
        "question",
        ("test-tag",),
    )
    assert t.custom == {"category": None}
    assert t.description == "This is a test ticket."
    assert t.version == "2025-01-08T09:43:50Z"
    assert {"satisfaction", "reopens", "first_agent_reply_at"} <= t.unknown  # no stats included


def test_includes_give_the_requester_and_the_reply_timestamps() -> None:
    t = normalize_ticket(load("ticket_show_with_includes.json"), profile(), {})

    assert (t.requester.name, t.requester.email) == ("Dummyname", "dummyname@example.com")
    assert t.first_agent_reply_at == datetime(2020, 6, 17, 20, 23, 43, tzinfo=UTC)
    assert t.last_customer_reply_at == datetime(2020, 6, 25, 23, 10, 15, tzinfo=UTC)
    assert t.reopens == 0 and "reopens" not in t.unknown  # reopened_at is null
    assert t.assignee == 6010396333 and t.tier is None


def test_custom_statuses_come_from_the_profile() -> None:
    raw = load("ticket_show.json") | {"status": 6, "priority": 4, "group_id": T2}
    t = normalize_ticket(raw, profile(), {})
    assert (t.status, t.priority, t.tier) == ("on_hold", "urgent", "t2")


@responses.activate
def test_check_auth_uses_the_api_key_with_password_x() -> None:
    responses.get(
        f"{BASE}/api/v2/agents/me", json={"id": 77, "contact": {"email": "bot@acme.test"}}
    )
    fd = connector([], bot_user_id=None)
    fd.check_auth()

    expected = "Basic " + base64.b64encode(f"{KEY}:X".encode()).decode()
    assert responses.calls[0].request.headers["Authorization"] == expected
    assert (fd.bot_user_id, fd.bot_email) == (77, "bot@acme.test")


@responses.activate
def test_a_refused_key_is_an_auth_error_without_the_key() -> None:
    responses.get(
        f"{BASE}/api/v2/agents/me",
        status=401,
        json={"code": "invalid_credentials", "message": "You have to be logged in."},
    )
    with pytest.raises(AuthError) as caught:
        connector([]).check_auth()
    assert KEY not in str(caught.value)


@responses.activate
def test_a_suspended_account_is_an_auth_error_naming_the_code() -> None:
    responses.get(f"{BASE}/api/v2/agents/me", status=403, json=load("error_403_access_denied.json"))
    with pytest.raises(AuthError, match="account_suspended"):
        connector([]).check_auth()


@responses.activate
def test_conversations_become_comments_after_the_description() -> None:
    responses.get(f"{TICKET}/conversations", json=load("conversations_list.json"))
    fd = connector([])
    ticket = normalize_ticket(load("ticket_show_with_includes.json"), fd.profile, {})

    loaded = fd.load_comments(ticket)

    assert [(c.id, c.public, c.author_role) for c in loaded.comments] == [
        (0, True, "customer"),
        (1, False, "agent"),
        (2, True, "agent"),
    ]
    assert loaded.latest_customer_comment == "This is a sample ticket, feel free to delete it."
    assert (loaded.agent_replies, loaded.customer_replies) == (1, 0)
    # satisfaction comes from the ratings listing (test_freshdesk_people.py), never per ticket
    assert len(responses.calls) == 1


@responses.activate
def test_the_update_is_one_put_then_the_marker_note_then_the_reply() -> None:
    current = load("ticket_show_with_includes.json")
    responses.get(TICKET, json=current)
    put = responses.put(TICKET, json=current | {"updated_at": "2016-05-19T00:00:00Z"})
    note = responses.post(f"{TICKET}/notes", status=201, json=load("note_private_created.json"))
    reply = responses.post(f"{TICKET}/reply", status=201, json=load("reply_created.json"))
    update = TicketUpdate(
        ticket_id=1,
        version="2016-05-18T23:42:50Z",
        tags=("foo", "bar", "esc-vip"),
        group=T2,
        priority="high",
        status="pending",
        custom_fields={
            "escalation_status": "t2 escalated (vip) at 2016-05-18T23:50:00Z",
            "respond_by": "2016-05-19T09:00:00Z",
            "resolve_by": "2016-05-20T09:00:00Z",
        },
        note="Escalated.\n\nesc-sync:vip:t2:ep1",
        customer_message="We are on it & will call you.",
    )

    stamp = connector([]).apply_update(update)

    assert [c.request.method for c in responses.calls] == ["GET", "PUT", "POST", "POST"]
    assert json.loads(put.calls[0].request.body) == {
        "tags": ["foo", "bar", "esc-vip"],
        "group_id": T2,
        "priority": 3,
        "status": 3,
        "fr_due_by": "2016-05-19T09:00:00Z",
        "due_by": "2016-05-20T09:00:00Z",
        "custom_fields": {"cf_escalation_status": "t2 escalated (vip) at 2016-05-18T23:50:00Z"},
    }
    assert json.loads(note.calls[0].request.body) == {
        "body": "<p>Escalated.</p><p>esc-sync:vip:t2:ep1</p>",
        "private": True,
    }
    assert json.loads(reply.calls[0].request.body) == {
        "body": "<p>We are on it &amp; will call you.</p>"
    }
    assert stamp == "2016-05-19T00:00:00Z"


@responses.activate
def test_a_ticket_that_moved_since_it_was_read_is_a_conflict_and_nothing_is_written() -> None:
    responses.get(TICKET, json=load("ticket_show_with_includes.json"))
    update = TicketUpdate(ticket_id=1, version="2016-05-18T20:00:00Z", tags=("x",), note="n")

    with pytest.raises(ConflictError):
        connector([]).apply_update(update)
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_due_by_is_never_written_before_fr_due_by() -> None:
    current = load("ticket_show_with_includes.json")  # fr_due_by 2016-05-18T05:36:04Z
    responses.get(TICKET, json=current)
    put = responses.put(TICKET, json=current)
    update = TicketUpdate(
        ticket_id=1, version=None, custom_fields={"resolve_by": "2016-05-18T04:00:00Z"}
    )

    connector([]).apply_update(update)

    body = json.loads(put.calls[0].request.body)
    assert body["due_by"] == body["fr_due_by"] == "2016-05-18T04:00:00Z"


@responses.activate
def test_a_validation_error_skips_the_ticket_naming_field_and_code() -> None:
    current = load("ticket_show_with_includes.json")
    responses.get(TICKET, json=current)
    responses.put(TICKET, status=400, json=load("synthetic/freshdesk_error_400_validation.json"))
    update = TicketUpdate(ticket_id=1, version=None, tags=("x",))

    with pytest.raises(SkippableError) as caught:
        connector([]).apply_update(update)
    assert caught.value.code == "invalid_field" and caught.value.status == 400
    assert "ticket: Unexpected/invalid field in request (invalid_field)" in str(caught.value)


@responses.activate
def test_retry_after_is_honoured_and_credits_are_counted() -> None:
    responses.get(TICKET, status=429, headers={"Retry-After": "7"}, json={})
    responses.get(
        TICKET,
        json=load("ticket_show_with_includes.json"),
        headers={
            "X-RateLimit-Total": "200",
            "X-RateLimit-Remaining": "150",
            "X-RateLimit-Used-CurrentRequest": "3",
        },
        match=[matchers.query_param_matcher({"include": "requester,stats"})],
    )
    sleeps: list[float] = []
    fd = connector(sleeps)

    assert fd.fetch_ticket(1).id == 1
    assert sleeps == [7.0]
    assert fd.credits["GET /api/v2/tickets/{id}"] == 3


@responses.activate
def test_the_worker_slows_down_before_the_budget_runs_out() -> None:
    responses.get(
        TICKET,
        json=load("ticket_show_with_includes.json"),
        headers={"X-RateLimit-Total": "200", "X-RateLimit-Remaining": "5"},
    )
    sleeps: list[float] = []
    fd = connector(sleeps)
    fd.fetch_ticket(1)
    assert sleeps == []  # the pause comes before the next call, not after this one
    fd.fetch_ticket(1)
    assert sleeps and sleeps[0] >= 1.0


@responses.activate
def test_tasks_are_tagged_child_tickets_found_again_through_the_parent() -> None:
    ext = "esc-sync:acme-fd:1:ep1:vip-care:1"
    created = load("ticket_show.json") | {"id": 501}
    post = responses.post(f"{BASE}/api/v2/tickets", status=201, json=created)
    responses.get(f"{TICKET}/associated_tickets", json=[{"id": 501}, 502])
    responses.get(
        f"{BASE}/api/v2/tickets/501", json=created | {"description_text": f"Call.\n\n{ext}"}
    )
    responses.get(f"{BASE}/api/v2/tickets/502", json=created | {"id": 502})
    task = TaskCreate(
        external_id=ext,
        title="[#1] Call",
        body=f"Call.\n\n{ext}",
        due_at=datetime(2016, 5, 20, 9, tzinfo=UTC),
        group=T2,
        parent_ticket=1,
    )
    fd = connector([], email="bot@acme.test")

    assert fd.create_task(task) == 501
    assert json.loads(post.calls[0].request.body) == {
        "subject": "[#1] Call",
        "description": f"<p>Call.</p><p>{ext}</p>",
        "status": 2,
        "priority": 2,
        "parent_id": 1,
        "tags": ["esc-sync-task"],
        "email": "bot@acme.test",
        "fr_due_by": "2016-05-20T09:00:00Z",
        "due_by": "2016-05-20T09:00:00Z",
        "group_id": T2,
    }
    assert fd.find_task(ext) == 501
    assert fd.find_task("esc-sync:acme-fd:1:ep1:vip-care:9") is None
