"""A decision is stable: rules its own writes make true join it, instead of a second note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.model import Organization, Ticket
from esc_sync.policy import EvalContext, load_policy

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def vip_asking_for_a_manager() -> Ticket:
    """A VIP customer's normal-priority ticket asking for a manager."""
    return Ticket(
        id=1, subject="Renewal", status="open", priority="normal", tier="t1",
        created_at=NOW - timedelta(hours=1), latest_customer_comment="Get me your manager.",
        customer_comments="Get me your manager.", organization=Organization(tags=("vip",)),
    )


def test_raising_priority_brings_in_the_vip_rule_in_the_same_decision() -> None:
    policy = load_policy(RULES)

    decision = policy.evaluate(vip_asking_for_a_manager(), NOW)

    assert [m.rule for m in decision.matches] == ["manager-request", "vip-high-priority"]
    assert decision.tags == ["esc-manager-request", "esc-vip"]
    assert decision.priority == "high" and decision.target_tier == "t2"
    vip = decision.matches[1]
    assert any(e.field == "priority" and e.seen == "high" for e in vip.evidence)


def test_a_fired_rule_does_not_pull_in_the_chained_one_again() -> None:
    policy = load_policy(RULES)

    decision = policy.evaluate(
        vip_asking_for_a_manager(), NOW, EvalContext(fired=frozenset({"manager-request"}))
    )

    assert decision.matches == []
    assert decision.already_fired == ["manager-request"]
