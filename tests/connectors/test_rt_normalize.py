"""Normalising captured RT tickets and their history: numbers as strings, levels, roles, reopens."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from esc_sync.connectors.rt.normalize import (
    MalformedRecord,
    attachment_text,
    normalize_ticket,
    priority_in,
    status_in,
    status_out,
)
from esc_sync.errors import HelpdeskError
from esc_sync.model import COMMENT_FIELDS
from tests.connectors.rt_payloads import (
    AGENT_ID,
    API,
    CUSTOMER_ID,
    connector,
    item,
    load,
    profile,
)


def test_the_captured_ticket_reads_whole_from_the_search() -> None:
    ticket = normalize_ticket(item(), profile())

    assert ticket.id == 7 and ticket.subject == "Invoice shows the wrong amount"
    assert (ticket.status, ticket.priority) == ("open", "normal")  # Priority "30" >= 25
    assert (ticket.group, ticket.tier, ticket.assignee) == ("Support T1", "t1", None)
    assert ticket.tags == ("billing", "invoice")
    assert ticket.requester.id == CUSTOMER_ID and ticket.requester.email == "alice@acme.test"
    assert ticket.requester.name == "Alice Customer"
    assert ticket.organization.name == "Acme Corp"
    assert ticket.organization.tags == ("vip", "enterprise")
    assert ticket.custom == {"refund_amount": 120.0}
    assert ticket.satisfaction == "none" and not ticket.is_worker_task
    assert ticket.created_at == datetime(2026, 11, 22, 19, 55, 41, tzinfo=UTC)
    assert ticket.version == "2026-11-22T19:55:42Z"
    # RT keeps no tags on users: requester.tags is unknown with the reason, never ()
    assert ticket.unknown == COMMENT_FIELDS | {"description", "reopens", "requester.tags"}
    assert set(ticket.unsupplied) == {"requester.tags"}


def test_numbers_come_as_strings_or_numbers_alike() -> None:
    as_numbers = item(id=7, Priority=30)
    assert normalize_ticket(as_numbers, profile()).priority == "normal"
    assert normalize_ticket(as_numbers, profile()).id == 7


@pytest.mark.parametrize(
    ("priority", "level"),
    [("0", "low"), ("24", "low"), ("25", "normal"), ("50", "high"), ("99", "urgent")],
)
def test_the_highest_threshold_at_or_below_priority_wins(priority: str, level: str) -> None:
    assert priority_in(priority, profile()) == level


def test_below_the_lowest_threshold_there_is_no_level() -> None:
    shifted = profile(priorities={"low": 10, "normal": 20, "high": 30, "urgent": 40})
    assert priority_in("5", shifted) is None


def test_owner_satisfaction_and_more_custom_values() -> None:
    cfs = item()["CustomFields"]
    for cf in cfs:
        if cf["name"] == "Satisfaction":
            cf["values"] = ["bad"]
        if cf["name"] == "Refund Amount":
            cf["values"] = ["75"]
    raw = item(CustomFields=cfs, Owner={"id": AGENT_ID, "Name": "agent1", "type": "user"})
    ticket = normalize_ticket(raw, profile())
    assert ticket.satisfaction == "bad" and ticket.assignee == "agent1"
    assert ticket.custom == {"refund_amount": 75}


@pytest.mark.parametrize(
    ("rt", "model"),
    [
        ("new", "new"),
        ("open", "open"),
        ("stalled", "on_hold"),
        ("resolved", "solved"),
        ("rejected", "closed"),
    ],
)
def test_default_lifecycle_statuses_map_both_ways(rt: str, model: str) -> None:
    assert status_in(rt, profile()) == model
    assert status_out(model, profile()) == rt


def test_custom_lifecycle_statuses_come_from_the_profile() -> None:
    custom = profile(statuses={"waiting": "pending"})
    assert custom.status_names == {"waiting": "pending"}
    assert status_in("waiting", custom) == "pending"
    assert status_out("pending", custom) == "waiting"
    with pytest.raises(MalformedRecord, match="unknown status 'waiting'"):
        status_in("waiting", profile())
    with pytest.raises(HelpdeskError, match="no RT status"):
        status_out("pending", profile())


def test_html_only_messages_are_read_as_text() -> None:
    texts = attachment_text(
        [
            {"TransactionId": "5", "ContentType": "text/html", "Content": "<p>Hi &amp; bye</p>"},
            {"TransactionId": "6", "ContentType": "text/html", "Content": "<p>html</p>"},
            {"TransactionId": 6, "ContentType": "text/plain", "Content": "plain wins"},
        ]
    )
    assert texts == {5: "Hi & bye", 6: "plain wins"}


def history_mocks() -> None:
    """The captured history, its attachments and the two user lookups."""
    responses.post(f"{API}/transactions", json=load("transactions_search.json"))
    responses.post(f"{API}/attachments", json=load("attachments_search.json"))
    responses.get(f"{API}/user/{AGENT_ID}", json=load("user_privileged.json"))


@responses.activate
def test_history_gives_comments_with_roles_description_reopens_and_the_etag() -> None:
    history_mocks()
    rt = connector()
    ticket = normalize_ticket(item(), rt.profile)

    loaded = rt.load_comments(ticket)

    assert loaded.description.startswith("My invoice INV-1042 charges 240 EUR")
    assert [(c.id, c.author_role, c.public) for c in loaded.comments] == [
        (154, "customer", True),  # Create: the request itself
        (159, "agent", True),  # agent1's reply (Privileged: 1)
        (161, "agent", False),  # agent1's comment: internal
        (163, "customer", True),  # the requestor's reply after the resolve
    ]
    assert loaded.reopens == 1  # resolved -> open by RT's reopen-on-correspond scrip
    assert (loaded.agent_replies, loaded.customer_replies) == (1, 1)
    assert loaded.latest_customer_comment == "It is still wrong on the new invoice!"
    assert loaded.last_agent_comment == "Checked billing: double charge."
    assert loaded.version == "etag:164"  # the latest transaction, as RT's ETag
    assert loaded.comments_loaded and loaded.unknown == set(loaded.unsupplied)
    assert [f"{c.request.method} {c.request.url.split('?')[0]}" for c in responses.calls] == [
        f"POST {API}/transactions",
        f"POST {API}/attachments",
        f"GET {API}/user/{AGENT_ID}",
    ]
    sent = json.loads(responses.calls[0].request.body or b"[]")
    assert sent == [
        {"field": "ObjectType", "value": "RT::Ticket"},
        {"field": "ObjectId", "value": 7},
    ]
    wanted = json.loads(responses.calls[1].request.body or b"[]")
    assert wanted == [{"field": "TransactionId", "operator": "IN", "value": [154, 159, 161, 163]}]


@responses.activate
def test_users_are_looked_up_once_per_connector() -> None:
    history_mocks()
    rt = connector()
    ticket = normalize_ticket(item(), rt.profile)
    rt.load_comments(ticket)
    rt.load_comments(ticket)
    assert rt.calls["GET /user/{id}"] == 1
    assert rt.calls["POST /transactions"] == 2


@responses.activate
def test_a_change_after_the_feed_read_keeps_the_feed_version() -> None:
    history_mocks()
    rt = connector()
    stale = normalize_ticket(item(LastUpdated="2026-11-22T19:55:41Z"), rt.profile)
    assert rt.load_comments(stale).version == "2026-11-22T19:55:41Z"


@responses.activate
def test_the_bot_s_own_messages_are_the_worker_s() -> None:
    txns = load("transactions_search.json")
    for txn in txns["items"]:
        if txn["id"] == "161":
            txn["Creator"] = {"id": 33, "Name": "escalation-bot", "type": "user"}
    responses.post(f"{API}/transactions", json=txns)
    responses.post(f"{API}/attachments", json=load("attachments_search.json"))
    responses.get(f"{API}/user/{AGENT_ID}", json=load("user_privileged.json"))
    loaded = connector().load_comments(normalize_ticket(item(), profile()))
    assert [c.author_role for c in loaded.comments if c.id == 161] == ["worker"]


@responses.activate
def test_fetch_tickets_reads_a_page_of_ids_per_search() -> None:
    responses.get(f"{API}/tickets", json=load("tickets_search_page.json"))
    responses.get(f"{API}/tickets", json={"items": [], "count": 0, "page": 1})
    tickets = connector(page_size=2).fetch_tickets([7, 8, 7, 9])
    assert [t.id for t in tickets] == [7]
    queries = [c.request.params["query"] for c in responses.calls]
    assert queries == ["id = 7 OR id = 8", "id = 9"]


@responses.activate
def test_a_request_the_bot_typed_in_for_a_customer_is_still_the_customer_s() -> None:
    txns = load("transactions_search.json")
    txns["items"][0]["Creator"] = {"id": 33, "Name": "escalation-bot", "type": "user"}
    responses.post(f"{API}/transactions", json=txns)
    responses.post(f"{API}/attachments", json=load("attachments_search.json"))
    responses.get(f"{API}/user/{AGENT_ID}", json=load("user_privileged.json"))
    loaded = connector().load_comments(normalize_ticket(item(), profile()))
    assert loaded.comments[0].author_role == "customer" and loaded.customer_replies == 1
