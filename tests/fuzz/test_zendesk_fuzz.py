"""Fuzz the Zendesk normaliser and feed: a hostile record is a SkippedRecord, never a crash."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime
from typing import Any

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_sync.connectors.zendesk.connector import ZendeskConnector
from esc_sync.connectors.zendesk.normalize import (
    MalformedRecord,
    SideLoads,
    normalize_comment,
    normalize_ticket,
)
from esc_sync.model import Comment, Ticket
from tests.connectors.conftest import profile as profile_fixture
from tests.connectors.zendesk_payloads import BASE, incremental_page, load, template_ticket
from tests.fuzz.strategies import JSON, assert_well_typed, mutated, one_field

PROFILE = profile_fixture.__wrapped__()  # type: ignore[attr-defined]
TEMPLATE = template_ticket()
SIDE = SideLoads.from_body(load("synthetic/incremental_sideloads.json"))
COMMENT = {
    "id": 1,
    "author_id": 2,
    "body": "Hello",
    "plain_body": "Hello",
    "public": True,
    "created_at": "2024-03-01T12:00:00Z",
}
EXTRA = ("via", "satisfaction_rating", "custom_fields", "fields", "organization_id", "group_id")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEMPLATE_START = datetime(2019, 6, 1, tzinfo=UTC)
EXPORT = f"{BASE}/api/v2/incremental/tickets/cursor.json"


READ = (
    "id",
    "updated_at",
    "created_at",
    "group_id",
    "priority",
    "tags",
    "custom_fields",
    "fields",
    "subject",
    "description",
    "status",
    "type",
    "via",
    "assignee_id",
    "organization_id",
    "requester_id",
    "external_id",
    "satisfaction_rating",
)


@FUZZ
@given(one_field(TEMPLATE, READ))
def test_each_field_read_survives_any_value(raw: dict[str, Any]) -> None:
    try:
        ticket = normalize_ticket(raw, SIDE, PROFILE)
    except MalformedRecord:
        return
    assert_well_typed(ticket)


@FUZZ
@given(mutated(TEMPLATE, EXTRA))
def test_normalize_ticket_returns_a_ticket_or_malformed_record(raw: Any) -> None:
    try:
        ticket = normalize_ticket(raw, SIDE, PROFILE)
    except MalformedRecord as exc:
        assert str(exc)
        return
    assert isinstance(ticket, Ticket)
    assert_well_typed(ticket)


@FUZZ
@given(st.dictionaries(st.sampled_from(["users", "organizations", "metric_sets"]), JSON))
def test_side_loads_of_any_shape_are_read_defensively(body: dict[str, Any]) -> None:
    side = SideLoads.from_body(body)
    with contextlib.suppress(MalformedRecord):
        normalize_ticket(copy.deepcopy(TEMPLATE), side, PROFILE)


@FUZZ
@given(mutated(COMMENT))
def test_normalize_comment_returns_a_comment_or_malformed_record(raw: Any) -> None:
    if not isinstance(raw, dict):
        return  # the connector checks for an object before calling (and skips otherwise)
    try:
        comment = normalize_comment(raw, requester_id=2, bot_user_id=9, users=SIDE.users)
    except MalformedRecord:
        return
    assert isinstance(comment, Comment)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(TEMPLATE, EXTRA))
def test_a_hostile_record_in_the_feed_is_skipped_and_the_page_goes_on(raw: Any) -> None:
    good = template_ticket(id=987654321)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(EXPORT, json=incremental_page(raw, good, after="c1", end=True))
        zd = ZendeskConnector(PROFILE, sleep=lambda _s: None)
        pages = list(zd.iter_changes(None, TEMPLATE_START))
    tickets = [t for p in pages for t in p.tickets]
    skipped = [s for p in pages for s in p.skipped]
    assert 987654321 in {t.id for t in tickets}  # the good record is never lost
    assert len(tickets) + len(skipped) == 2
    assert all(s.reason for s in skipped)
