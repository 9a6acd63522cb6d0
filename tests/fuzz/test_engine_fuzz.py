"""Fuzz the engine: any ticket a connector can produce gets a decision, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_sync.model import (
    COMMENT_FIELDS,
    PRIORITIES,
    STATUSES,
    Comment,
    Organization,
    Person,
    Ticket,
)
from esc_sync.policy import load_policy
from esc_sync.policy.engine import EvalContext
from tests.fuzz.strategies import JSON, WEIRD_TEXT

RULES = Path(__file__).resolve().parents[2] / "rules"
POLICY = load_policy(RULES)
NOW = datetime(2024, 3, 4, 10, 30, tzinfo=UTC)

WHEN = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
COUNT = st.one_of(st.none(), st.integers(min_value=-5, max_value=10**9))
ID = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1))
TAGS = st.lists(WEIRD_TEXT, max_size=6).map(tuple)
TEXT_OR_NONE = st.one_of(st.none(), WEIRD_TEXT)
TIERS = st.one_of(st.none(), st.sampled_from([t.id for t in POLICY.tiers]), WEIRD_TEXT)
COMMENTS = st.lists(
    st.builds(
        Comment,
        id=st.integers(min_value=1, max_value=2**40),
        author_id=ID,
        body=WEIRD_TEXT,
        public=st.booleans(),
        created_at=WHEN.filter(lambda w: w is not None),
        author_role=st.sampled_from(["customer", "agent", "worker"]),
    ),
    max_size=4,
).map(tuple)

TICKETS = st.builds(
    Ticket,
    id=st.integers(min_value=1, max_value=2**63 - 1),
    subject=WEIRD_TEXT,
    description=WEIRD_TEXT,
    status=st.sampled_from(STATUSES),
    priority=st.one_of(st.none(), st.sampled_from(PRIORITIES)),
    type=TEXT_OR_NONE,
    channel=TEXT_OR_NONE,
    tags=TAGS,
    group=st.one_of(ID, WEIRD_TEXT),
    assignee=ID,
    tier=TIERS,
    created_at=WHEN,
    updated_at=WHEN,
    first_agent_reply_at=WHEN,
    last_customer_reply_at=WHEN,
    last_agent_reply_at=WHEN,
    agent_replies=COUNT,
    customer_replies=COUNT,
    reopens=COUNT,
    latest_customer_comment=TEXT_OR_NONE,
    customer_comments=TEXT_OR_NONE,
    requester=st.builds(
        Person,
        id=ID,
        name=TEXT_OR_NONE,
        email=TEXT_OR_NONE,
        tags=TAGS,
        tickets_30d=COUNT,
        tickets_90d=COUNT,
    ),
    organization=st.builds(Organization, id=ID, name=TEXT_OR_NONE, tags=TAGS),
    satisfaction=st.sampled_from(["good", "bad", "none"]),
    custom=st.dictionaries(st.sampled_from(["plan", "region", "category", "x"]), JSON, max_size=4),
    comments=COMMENTS,
    comments_loaded=st.booleans(),
    unknown=st.sets(st.sampled_from(sorted(COMMENT_FIELDS | {"reopens", "satisfaction"}))).map(
        frozenset
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TICKETS, st.sets(st.sampled_from([r.id for r in POLICY.rules])), st.integers(-400, 400))
def test_any_ticket_gets_a_decision(ticket: Ticket, fired: set[str], shift_days: int) -> None:
    now = NOW + timedelta(days=shift_days)
    decision = POLICY.evaluate(ticket, now, EvalContext(fired=frozenset(fired)))
    assert decision.ticket_id == ticket.id
    if decision.target_tier is not None:
        assert decision.target_tier in {t.id for t in POLICY.tiers}
    POLICY.needs_comments(ticket, now, EvalContext(fired=frozenset(fired)))
