"""Every operator on every kind of field, three-valued unknowns and nested groups."""

from __future__ import annotations

from typing import Any

import pytest

from esc_sync.model import Ticket

from .stories import NOW, ticket


@pytest.fixture
def test_of(policy_from: Any) -> Any:
    """Compile one condition as a rule and return a function giving its result on a ticket."""

    def build(condition: str) -> Any:
        policy = policy_from(f'[[rules]]\nid = "r"\nname = "R"\nwhen.all = [{condition}]\n')
        return lambda t: policy.rules[0].condition.test(t, NOW)

    return build


CASES: list[tuple[str, Ticket, bool]] = [
    # eq / ne on enums, numbers, text
    ('{ field = "status", eq = "open" }', ticket(status="open"), True),
    ('{ field = "status", eq = "open" }', ticket(status="pending"), False),
    ('{ field = "priority", ne = "low" }', ticket(priority="high"), True),
    ('{ field = "priority", ne = "low" }', ticket(priority=None), False),  # None compares False
    ('{ field = "agent_replies", eq = 0 }', ticket(agent_replies=0), True),
    ('{ field = "agent_replies", eq = 0 }', ticket(agent_replies=None), False),
    ('{ field = "subject", eq = "Help" }', ticket(subject="Help"), True),
    ('{ field = "satisfaction", eq = "none" }', ticket(), True),
    # in / not_in
    ('{ field = "status", in = ["new", "open"] }', ticket(status="new"), True),
    ('{ field = "status", in = ["new", "open"] }', ticket(status="solved"), False),
    ('{ field = "status", not_in = ["closed"] }', ticket(status="solved"), True),
    ('{ field = "status", not_in = ["closed"] }', ticket(status="closed"), False),
    ('{ field = "reopens", in = [2, 3] }', ticket(reopens=3), True),
    # contains: list membership (any case) and substring (any case)
    ('{ field = "tags", contains = "VIP" }', ticket(tags=["vip", "billing"]), True),
    ('{ field = "tags", contains = "vi" }', ticket(tags=["vip"]), False),
    (
        '{ field = "organization.tags", contains = "vip" }',
        ticket(organization={"tags": ["VIP"]}),
        True,
    ),
    ('{ field = "subject", contains = "REFUND" }', ticket(subject="Refund please"), True),
    ('{ field = "subject", contains = "refund" }', ticket(subject="Invoice"), False),
    # matches: re.search, on text and on any element of a list
    ('{ field = "subject", matches = "inv[o0]ice" }', ticket(subject="My invoice is wrong"), True),
    ('{ field = "subject", matches = "^invoice" }', ticket(subject="My invoice"), False),
    ('{ field = "tags", matches = "^esc-" }', ticket(tags=["a", "esc-vip"]), True),
    ('{ field = "latest_customer_comment", matches = "x" }', ticket(), False),  # None: False
    # numeric comparisons
    ('{ field = "reopens", gt = 1 }', ticket(reopens=2), True),
    ('{ field = "reopens", gt = 2 }', ticket(reopens=2), False),
    ('{ field = "reopens", gte = 2 }', ticket(reopens=2), True),
    ('{ field = "reopens", lt = 2 }', ticket(reopens=1), True),
    ('{ field = "reopens", lte = 1 }', ticket(reopens=2), False),
    ('{ field = "requester.tickets_30d", gte = 3 }', ticket(requester={"tickets_30d": 3}), True),
    ('{ field = "requester.tickets_30d", gte = 3 }', ticket(), False),
    # ordered enums: priority and tier rank
    ('{ field = "priority", gte = "high" }', ticket(priority="urgent"), True),
    ('{ field = "priority", gte = "high" }', ticket(priority="normal"), False),
    ('{ field = "tier", lt = "t3" }', ticket(tier="t2"), True),
    ('{ field = "tier", lt = "t3" }', ticket(tier=None), False),
    # datetimes: ISO comparisons, older_than, newer_than (now = 15:00 UTC)
    (
        '{ field = "created_at", lt = "2026-03-02T12:00:00Z" }',
        ticket(created_at="2026-03-02T11:00:00+00:00"),
        True,
    ),
    (
        '{ field = "created_at", older_than = "4h" }',
        ticket(created_at="2026-03-02T11:00:00+00:00"),
        True,
    ),
    (
        '{ field = "created_at", older_than = "4h" }',
        ticket(created_at="2026-03-02T11:00:01+00:00"),
        False,
    ),
    ('{ field = "created_at", older_than = "4h" }', ticket(), False),
    (
        '{ field = "updated_at", newer_than = "15m" }',
        ticket(updated_at="2026-03-02T14:50:00+00:00"),
        True,
    ),
    (
        '{ field = "updated_at", newer_than = "15m" }',
        ticket(updated_at="2026-03-02T14:45:00+00:00"),
        False,
    ),
    # exists
    ('{ field = "assignee", exists = true }', ticket(assignee=42), True),
    ('{ field = "assignee", exists = false }', ticket(), True),
    ('{ field = "subject", exists = true }', ticket(subject=""), False),
    ('{ field = "tags", exists = true }', ticket(tags=[]), False),
    # custom fields: numbers compared as numbers, numeric strings coerced
    (
        '{ field = "custom.refund_amount", gte = 500 }',
        ticket(custom={"refund_amount": "750.00"}),
        True,
    ),
    ('{ field = "custom.refund_amount", gte = 500 }', ticket(custom={"refund_amount": 499}), False),
    (
        '{ field = "custom.refund_amount", gte = 500 }',
        ticket(custom={"refund_amount": "n/a"}),
        False,
    ),
    (
        '{ field = "custom.refund_amount", eq = 750 }',
        ticket(custom={"refund_amount": "750.00"}),
        True,
    ),
    ('{ field = "custom.plan", eq = "gold" }', ticket(custom={"plan": "gold"}), True),
    ('{ field = "custom.plan", exists = true }', ticket(), False),
]


@pytest.mark.parametrize(("condition", "subject", "expected"), CASES)
def test_operator(test_of: Any, condition: str, subject: Ticket, expected: bool) -> None:
    """Each operator gives the documented answer on a ticket built for it."""
    assert test_of(condition)(subject) is expected


def test_a_test_on_an_unknown_field_is_unknown(test_of: Any) -> None:
    """Comments not loaded: the comment test can say neither yes nor no."""
    check = test_of('{ field = "latest_customer_comment", matches = "manager" }')
    assert check(ticket(unknown={"latest_customer_comment"})) is None
    assert check(ticket(latest_customer_comment="get me a manager")) is True


def test_a_whole_object_can_be_unknown(test_of: Any) -> None:
    """Listing "requester" as unknown makes every requester.* field unknown."""
    check = test_of('{ field = "requester.tickets_30d", gte = 3 }')
    assert check(ticket(unknown={"requester"})) is None


KLEENE = """
[[rules]]
id = "r"
name = "R"
when.all = [{ field = "status", eq = "open" }]
when.any = [
  { field = "latest_customer_comment", matches = "manager" },
  { all = [
    { field = "priority", eq = "urgent" },
    { none = [{ field = "tags", contains = "spam" }] },
  ] },
]
"""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # the unknown comment is rescued by the nested all-group being true
        ({"priority": "urgent", "unknown": {"latest_customer_comment"}}, True),
        # ... but not when the nested group is false: unknown OR false = unknown
        ({"priority": "low", "unknown": {"latest_customer_comment"}}, None),
        # a false part of when.all wins over unknowns: false AND unknown = false
        ({"status": "solved", "unknown": {"latest_customer_comment"}}, False),
        # none = [...] is false when a child is true
        ({"priority": "urgent", "tags": ["spam"], "latest_customer_comment": "hi"}, False),
        # none = [...] over an unknown child is unknown
        ({"priority": "urgent", "unknown": {"tags", "latest_customer_comment"}}, None),
        ({"latest_customer_comment": "I want a manager"}, True),
    ],
)
def test_groups_combine_in_three_valued_logic(
    policy_from: Any, fields: dict[str, Any], expected: bool | None
) -> None:
    """all/any/none combine True, False and unknown the Kleene way, at any depth."""
    policy = policy_from(KLEENE)
    assert policy.rules[0].condition.test(ticket(**fields), NOW) is expected


def test_evaluate_treats_unknown_as_not_matched(policy_from: Any) -> None:
    """evaluate() never fires on a guess; needs_comments() says the comments would decide."""
    policy = policy_from(KLEENE)
    waiting = ticket(priority="low", unknown={"latest_customer_comment"})
    assert policy.evaluate(waiting, NOW).matches == []
    assert policy.needs_comments(waiting, NOW) is True
