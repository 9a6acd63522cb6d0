"""Normalisation of real Zendesk ticket payloads into the shared model."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.connectors.zendesk.normalize import SideLoads, normalize_ticket
from esc_sync.errors import SkippableError
from esc_sync.model import COMMENT_FIELDS, Organization, Person
from tests.connectors.zendesk_payloads import (
    BASE,
    FIXTURES,
    PLAN_FIELD,
    TIER1_GROUP,
    load,
    template_ticket,
)

SIDELOADS = SideLoads.from_body(load("synthetic/incremental_sideloads.json"))


def test_the_recorded_ticket_normalises(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.get(f"{BASE}/api/v2/tickets/2.json", json=load("ticket_show.json"))

    ticket = zd.fetch_ticket(2)

    assert ticket.id == 2
    assert ticket.subject == "Mail to create fixture ticket for testing"
    assert ticket.description.startswith("Mail to create fixture ticket for testing\n\nnukosuke")
    assert ticket.status == "solved"
    assert ticket.priority is None  # null priority stays unset
    assert ticket.type is None
    assert ticket.channel == "email"
    assert ticket.tags == ()
    assert ticket.group == TIER1_GROUP and type(ticket.group) is int
    assert ticket.tier == "tier1"
    assert ticket.assignee == 377922500012
    assert ticket.created_at == datetime(2019, 6, 3, 2, 23, 47, tzinfo=UTC)
    assert ticket.updated_at == datetime(2019, 6, 5, 1, 13, 24, tzinfo=UTC)
    assert ticket.version == "2019-06-05T01:13:24Z"  # exactly as read, for safe_update
    assert ticket.requester == Person(id=377922500012)  # no side-load in this recording
    assert ticket.organization == Organization(id=360363695492)
    assert ticket.satisfaction == "none"
    assert ticket.custom == {"plan": None, "region": None}
    assert ticket.external_id is None and not ticket.is_worker_task
    assert ticket.unknown == COMMENT_FIELDS | {"reopens"}  # no metric set side-loaded
    assert "include=users%2Corganizations%2Cmetric_sets" in api.calls[0].request.url


def test_custom_fields_match_64_bit_ids_and_stay_exact(profile: ConnectorProfile) -> None:
    raw = template_ticket(
        custom_fields=[
            {"id": PLAN_FIELD, "value": "gold"},
            {"id": 360000000123, "value": ["emea", "apac"]},
            {"id": 360000000201, "value": "l2"},  # a write-back role, not a rule field
        ]
    )
    decoded = json.loads(json.dumps(raw))  # through real JSON: no float ever appears
    assert decoded["custom_fields"][0]["id"] == 2**53 + 1

    ticket = normalize_ticket(decoded, SIDELOADS, profile)

    assert ticket.custom == {"plan": "gold", "region": ["emea", "apac"]}


def test_side_loads_fill_requester_organization_and_metrics(profile: ConnectorProfile) -> None:
    ticket = normalize_ticket(template_ticket(), SIDELOADS, profile)

    assert ticket.requester == Person(
        id=377922500012,
        name="Ada Requester",
        email="ada.requester@example.com",
        tags=("vip", "beta"),
    )
    assert ticket.organization == Organization(
        id=360363695492, name="Example Corp", tags=("enterprise",)
    )
    assert ticket.reopens == 1
    assert ticket.agent_replies == 2
    assert ticket.first_agent_reply_at == datetime(2019, 6, 3, 3, 53, 47, tzinfo=UTC)  # +90 min
    assert ticket.unknown == COMMENT_FIELDS - {"agent_replies", "first_agent_reply_at"}


def test_a_metric_without_a_reply_yet_means_no_first_reply(profile: ConnectorProfile) -> None:
    body = load("synthetic/incremental_sideloads.json")
    body["metric_sets"][0].update(
        replies=0, reply_time_in_minutes={"calendar": None, "business": None}
    )
    ticket = normalize_ticket(template_ticket(), SideLoads.from_body(body), profile)
    assert ticket.agent_replies == 0
    assert ticket.first_agent_reply_at is None
    assert "first_agent_reply_at" not in ticket.unknown


@pytest.mark.parametrize(
    ("zendesk", "model"),
    [
        ("new", "new"),
        ("open", "open"),
        ("pending", "pending"),
        ("hold", "on_hold"),
        ("closed", "closed"),
    ],
)
def test_statuses_map(profile: ConnectorProfile, zendesk: str, model: str) -> None:
    assert normalize_ticket(template_ticket(status=zendesk), SIDELOADS, profile).status == model


@pytest.mark.parametrize(
    ("rating", "expected"),
    [
        ({"score": "good", "comment": "thanks"}, "good"),
        ({"score": "bad"}, "bad"),
        ({"score": "offered"}, "none"),
        ({"score": "unoffered"}, "none"),
        (None, "none"),
    ],
)
def test_satisfaction(profile: ConnectorProfile, rating: object, expected: str) -> None:
    ticket = normalize_ticket(template_ticket(satisfaction_rating=rating), SIDELOADS, profile)
    assert ticket.satisfaction == expected


def test_other_fields(profile: ConnectorProfile) -> None:
    raw = template_ticket(
        priority="urgent", type="incident", tags=["vip", "billing"], group_id=None
    )
    ticket = normalize_ticket(raw, SIDELOADS, profile)
    assert (ticket.priority, ticket.type, ticket.tags) == ("urgent", "incident", ("vip", "billing"))
    assert ticket.group is None and ticket.tier is None


def test_fetch_tickets_uses_show_many_in_chunks_of_100(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    show_many = f"{BASE}/api/v2/tickets/show_many.json"
    api.get(
        show_many, json={"tickets": [template_ticket(id=i) for i in range(1, 101)], "users": []}
    )
    api.get(
        show_many, json={"tickets": [template_ticket(id=101), template_ticket(id=102, status="??")]}
    )

    tickets = zd.fetch_tickets(list(range(1, 104)))

    assert [t.id for t in tickets] == list(range(1, 102))  # 103 unknown, 102 malformed
    first, second = api.calls
    assert "ids=" + "%2C".join(str(i) for i in range(1, 101)) in first.request.url
    assert "ids=101%2C102%2C103" in second.request.url
    assert "include=users%2Corganizations%2Cmetric_sets" in second.request.url
    assert zd.calls == {"GET /api/v2/tickets/show_many.json": 2}


def test_a_missing_ticket_is_skippable(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.get(
        f"{BASE}/api/v2/tickets/99.json", status=404, json=load("error_404_record_not_found.json")
    )
    with pytest.raises(SkippableError) as err:
        zd.fetch_ticket(99)
    assert err.value.ticket_id == 99


def test_fixture_files_are_byte_identical_to_the_shared_ones() -> None:
    shared = FIXTURES.parents[3] / "shared" / "fixtures"
    if not shared.exists():
        pytest.skip("shared fixtures not present")
    for copy in FIXTURES.rglob("*"):
        if copy.is_file() and copy.name != "incremental_sideloads.json":
            rel = copy.relative_to(FIXTURES)
            origin = shared / ("synthetic" if rel.parts[0] == "synthetic" else "zendesk") / rel.name
            assert copy.read_bytes() == origin.read_bytes(), rel


def _metrics(**changes: object) -> SideLoads:
    """The side-loads with the ticket's metric set changed."""
    body = load("synthetic/incremental_sideloads.json")
    body["metric_sets"][0].update(changes)
    return SideLoads.from_body(body)


def test_the_newest_comment_time_is_kept_when_the_metric_set_is_current(
    profile: ConnectorProfile,
) -> None:
    ticket = normalize_ticket(template_ticket(), _metrics(), profile)
    assert ticket.latest_comment_at == datetime(2019, 6, 5, 1, 13, 24, tzinfo=UTC)


def test_a_metric_set_older_than_the_ticket_vouches_for_no_comment_time(
    profile: ConnectorProfile,
) -> None:
    """Computed before the ticket's last change: a comment may have come since."""
    stale = _metrics(updated_at="2019-06-05T01:13:23Z")
    assert normalize_ticket(template_ticket(), stale, profile).latest_comment_at is None


def test_a_ticket_whose_one_comment_is_the_description_needs_no_comment_read(
    profile: ConnectorProfile,
) -> None:
    """The newest comment was added at creation and the requester (an end user) submitted
    it: the description is the customer's only comment, every comment field is known."""
    sides = _metrics(latest_comment_added_at="2019-06-03T02:23:47Z", replies=0)
    ticket = normalize_ticket(template_ticket(), sides, profile)
    assert ticket.comments_loaded
    assert not ticket.unknown & COMMENT_FIELDS
    assert ticket.latest_customer_comment == ticket.description
    assert ticket.customer_comments == ticket.description
    assert ticket.customer_replies == 0 and ticket.agent_replies == 0
    assert ticket.last_customer_reply_at is None and ticket.first_agent_reply_at is None
    assert [c.author_role for c in ticket.comments] == ["customer"]


@pytest.mark.parametrize(
    ("ticket_changes", "metric_changes"),
    [
        ({}, {}),  # a comment came after creation
        ({"submitter_id": 377922500099}, {}),  # an agent opened it for the customer
        ({"requester_id": 377922500404, "submitter_id": 377922500404}, {}),  # role unknown
        ({"description": ""}, {}),
        ({}, {"updated_at": "2019-06-05T01:13:23Z"}),  # the metric set is older than the ticket
    ],
)
def test_the_description_stands_in_only_when_it_is_certainly_the_only_comment(
    profile: ConnectorProfile, ticket_changes: dict[str, object], metric_changes: dict[str, object]
) -> None:
    at_creation = {"latest_comment_added_at": "2019-06-03T02:23:47Z"}
    if ticket_changes or metric_changes:
        metric_changes = {**at_creation, **metric_changes}
    raw = template_ticket(**ticket_changes)
    ticket = normalize_ticket(raw, _metrics(**metric_changes), profile)
    assert not ticket.comments_loaded
    assert "latest_customer_comment" in ticket.unknown
