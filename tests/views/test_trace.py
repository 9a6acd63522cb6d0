"""Per-condition traces: the value each test saw and its three-valued result."""

from __future__ import annotations

from datetime import UTC, datetime

from esc_sync.model import Ticket
from esc_sync.policy import load_policy
from esc_sync.policy.trace import trace
from tests.views.conftest import RULES

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_test_reports_the_value_seen_and_a_group_every_child() -> None:
    rule = load_policy(RULES).rule("manager-request")
    ticket = Ticket(id=1, status="open", latest_customer_comment="Let me talk to your manager")

    traced = trace(rule.condition, ticket, NOW).as_json()

    tests = traced["conditions"][0]["conditions"]
    assert traced["result"] == "true"
    assert tests[0] == {
        "field": "status",
        "op": "in",
        "expected": ["new", "open", "pending", "on_hold"],
        "seen": "open",
        "result": "true",
    }
    assert tests[1]["seen"] == "manager" and tests[1]["result"] == "true"


def test_an_unloaded_field_is_unknown_not_false() -> None:
    rule = load_policy(RULES).rule("manager-request")
    ticket = Ticket(id=1, status="closed", unknown=frozenset({"latest_customer_comment"}))

    traced = trace(rule.condition, ticket, NOW).as_json()

    tests = traced["conditions"][0]["conditions"]
    assert tests[0]["result"] == "false"  # every child is shown, even after a false one
    assert tests[1] == {**tests[1], "seen": "(not loaded)", "result": "unknown"}
