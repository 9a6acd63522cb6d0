"""Fuzz the Freshdesk normaliser and change feed: a hostile record is a SkippedRecord."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import requests
import responses
from hypothesis import HealthCheck, given, settings

from esc_sync.connectors.freshdesk.connector import FreshdeskConnector
from esc_sync.connectors.freshdesk.normalize import (
    MalformedRecord,
    normalize_conversation,
    normalize_ticket,
)
from esc_sync.model import Comment, Ticket
from tests.connectors.freshdesk_helpers import BASE, load, profile
from tests.fuzz.strategies import JSON, assert_well_typed, mutated, one_field

PROFILE = profile()
TEMPLATE: dict[str, Any] = dict(load("tickets_list_page.json")[0])
COMPANIES = {1: {"id": 1, "name": "Acme", "custom_fields": {}}}
CONVERSATION = {
    "id": 5,
    "user_id": 7,
    "body": "<p>Hi</p>",
    "body_text": "Hi",
    "private": False,
    "incoming": True,
    "created_at": "2024-03-01T12:00:00Z",
}
EXTRA = ("stats", "custom_fields", "requester", "company_id", "source", "description_text")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIST = f"{BASE}/api/v2/tickets"
START = datetime(2015, 8, 1, tzinfo=UTC)


READ = (
    "id",
    "updated_at",
    "created_at",
    "group_id",
    "priority",
    "tags",
    "custom_fields",
    "subject",
    "description",
    "description_text",
    "status",
    "type",
    "source",
    "responder_id",
    "company_id",
    "requester",
    "requester_id",
    "stats",
)


@FUZZ
@given(one_field(TEMPLATE, READ))
def test_each_field_read_survives_any_value(raw: dict[str, Any]) -> None:
    try:
        ticket = normalize_ticket(raw, PROFILE, COMPANIES)
    except MalformedRecord:
        return
    assert_well_typed(ticket)


@FUZZ
@given(mutated(TEMPLATE, EXTRA))
def test_normalize_ticket_returns_a_ticket_or_malformed_record(raw: Any) -> None:
    try:
        ticket = normalize_ticket(raw, PROFILE, COMPANIES)
    except MalformedRecord as exc:
        assert str(exc)
        return
    assert isinstance(ticket, Ticket)
    assert_well_typed(ticket)


@FUZZ
@given(mutated(TEMPLATE), JSON)
def test_any_company_record_is_read_defensively(raw: Any, company: Any) -> None:
    with contextlib.suppress(MalformedRecord):
        normalize_ticket(raw, PROFILE, {1: company} if isinstance(company, dict) else {})


@FUZZ
@given(mutated(CONVERSATION))
def test_normalize_conversation_returns_a_comment_or_malformed_record(raw: Any) -> None:
    if not isinstance(raw, dict):
        return  # the connector checks for an object before calling (and skips otherwise)
    try:
        comment = normalize_conversation(raw, requester_id=7, bot_user_id=999)
    except MalformedRecord:
        return
    assert isinstance(comment, Comment)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(TEMPLATE, EXTRA))
def test_a_hostile_record_in_the_feed_is_skipped_and_the_page_goes_on(raw: Any) -> None:
    good = dict(TEMPLATE, id=987654321, updated_at="2024-01-01T10:00:00Z")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(LIST, json=[raw, good])
        # a company id the account does not have answers 404, as the real API does
        api.get(re.compile(rf"{re.escape(BASE)}/api/v2/companies/.*"), status=404,
                json={"code": "not_found", "message": "Record not found"})
        # the requester's contact (a stranger here) and the listings the connector walks
        api.get(re.compile(rf"{re.escape(BASE)}/api/v2/contacts/.*"), status=404,
                json={"code": "not_found", "message": "Record not found"})
        api.get(f"{BASE}/api/v2/contacts", json=[])
        api.get(f"{BASE}/api/v2/surveys/satisfaction_ratings", json=[])
        fd = FreshdeskConnector(PROFILE, session=requests.Session(), sleep=lambda _s: None)
        pages = list(fd.iter_changes(None, START))
    tickets = [t for p in pages for t in p.tickets]
    skipped = [s for p in pages for s in p.skipped]
    assert 987654321 in {t.id for t in tickets}  # the good record is never lost
    assert len(tickets) + len(skipped) <= 2
    assert all(s.reason for s in skipped)
