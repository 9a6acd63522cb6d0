"""Several rules on one ticket combine into one decision; never lower, never twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from esc_sync.model import Deadlines, Evidence, TaskSpec
from esc_sync.policy import EvalContext, Policy

from .stories import NOW, ticket

RULES = """
[[rules]]
id = "manager"
name = "Asks for a manager"
when.all = [{ field = "latest_customer_comment", matches = '(?i)\\bmanager\\b' }]
then.escalate_to = "t2"
then.priority = "high"
then.tags = ["esc-manager", "esc-seen"]
then.notify_customer = "transfer"

[[rules]]
id = "legal"
name = "Legal threat"
when.all = [{ field = "customer_comments", matches = '(?i)\\blawyer\\b' }]
then.escalate_to = "t3"
then.priority = "urgent"
then.tags = ["esc-legal", "esc-seen"]
then.status = "open"
then.playbook = "legal-review"

[[rules]]
id = "vip"
name = "VIP"
when.all = [{ field = "organization.tags", contains = "vip" }]
then.tags = ["esc-vip"]
then.priority = "normal"

[[rules]]
id = "retired"
name = "Switched off"
enabled = false
when.all = [{ field = "status", eq = "open" }]
then.escalate_to = "t3"
"""


@pytest.fixture
def policy(policy_from: Any) -> Policy:
    """Three tiers, and rules to t2, t3 and a tag-only VIP rule."""
    built: Policy = policy_from(RULES)
    return built


def angry_vip(**fields: Any) -> Any:
    """A VIP customer asking for a manager and mentioning a lawyer."""
    base = {
        "priority": "normal",
        "latest_customer_comment": "Get me your manager.",
        "customer_comments": "This is wrong. I will call my lawyer. Get me your manager.",
        "organization": {"name": "Acme", "tags": ["vip"]},
    }
    return ticket(**{**base, **fields})


def test_several_matches_give_the_highest_tier_union_of_tags_highest_priority(
    policy: Policy,
) -> None:
    """A frontline ticket matching t2, t3 and a tag rule goes to t3 with everything merged."""
    decision = policy.evaluate(angry_vip(tier="t1"), NOW)

    assert [m.rule for m in decision.matches] == ["manager", "legal", "vip"]
    assert decision.current_tier == "t1"
    assert decision.target_tier == "t3"
    assert decision.tags == ["esc-manager", "esc-seen", "esc-legal", "esc-vip"]
    assert decision.priority == "urgent"
    assert decision.status == "open"
    assert decision.note_template == "briefing"
    assert decision.customer_template == "transfer"
    # t3 has no playbook of its own; the legal rule adds its own
    assert decision.playbooks == ["legal-review"]
    assert decision.deadlines == Deadlines(NOW + timedelta(hours=1), NOW + timedelta(hours=8))
    assert decision.tasks == [
        TaskSpec("legal-review", 1, "Ask legal to review", "escalated", NOW + timedelta(days=1))
    ]


def test_evidence_records_the_values_that_matched(policy: Policy) -> None:
    """Each match carries the tests that were true and what was seen."""
    decision = policy.evaluate(angry_vip(), NOW)
    legal = next(m for m in decision.matches if m.rule == "legal")
    assert legal.escalate_to == "t3"
    assert legal.evidence == (
        Evidence("customer_comments", "matches", "(?i)\\blawyer\\b", "lawyer"),
    )
    vip = next(m for m in decision.matches if m.rule == "vip")
    assert vip.evidence == (Evidence("organization.tags", "contains", "vip", ["vip"]),)


def test_a_lower_rule_on_a_higher_ticket_adds_tags_but_never_lowers(policy: Policy) -> None:
    """A t2 rule on a ticket already at t3 is listed, tags it, but moves nothing."""
    decision = policy.evaluate(
        ticket(tier="t3", priority="urgent", latest_customer_comment="manager please"), NOW
    )
    assert [m.rule for m in decision.matches] == ["manager"]
    assert decision.target_tier is None
    assert decision.tags == ["esc-manager", "esc-seen"]
    assert decision.priority is None  # urgent is already above high
    assert decision.playbooks == []
    assert decision.deadlines is None
    assert decision.tasks == []
    assert decision.note_template == "briefing"
    assert decision.customer_template is None  # nobody new is brought in


def test_priority_is_only_raised(policy: Policy) -> None:
    """A VIP rule asking for normal does not touch a high ticket, and raises a low one."""
    assert (
        policy.evaluate(ticket(priority="high", organization={"tags": ["vip"]}), NOW).priority
        is None
    )
    assert (
        policy.evaluate(ticket(priority="low", organization={"tags": ["vip"]}), NOW).priority
        == "normal"
    )


def test_rules_already_fired_this_episode_are_listed_apart(policy: Policy) -> None:
    """A rule that fired before adds nothing again; the others still act."""
    ctx = EvalContext(fired=frozenset({"legal"}))
    decision = policy.evaluate(angry_vip(tier="t1"), NOW, ctx)
    assert [m.rule for m in decision.matches] == ["manager", "vip"]
    assert decision.already_fired == ["legal"]
    assert decision.target_tier == "t2"
    assert decision.priority == "high"
    assert "esc-legal" not in decision.tags
    assert decision.playbooks == ["team-lead"]


def test_everything_fired_means_nothing_to_do(policy: Policy) -> None:
    """When every matched rule fired already, the decision is empty."""
    ctx = EvalContext(fired=frozenset({"legal", "manager", "vip"}))
    decision = policy.evaluate(angry_vip(), NOW, ctx)
    assert not decision.matched
    assert decision.already_fired == ["manager", "legal", "vip"]
    assert decision.target_tier is None and decision.tags == [] and decision.note_template is None


def test_a_disabled_rule_never_matches(policy: Policy) -> None:
    """enabled = false switches a rule off without deleting it."""
    assert policy.evaluate(ticket(status="open"), NOW).matches == []


def test_playbook_steps_are_chained_until_resolution(policy: Policy) -> None:
    """Entering t2 creates the steps before the first resolved one, each due after the last."""
    decision = policy.evaluate(ticket(latest_customer_comment="manager"), NOW)
    assert decision.target_tier == "t2"
    assert decision.playbooks == ["team-lead"]
    assert [(t.step, t.title, t.due) for t in decision.tasks] == [
        (1, "Call the customer", NOW + timedelta(hours=2)),
        (2, "Review the history", NOW + timedelta(hours=6)),
    ]


def test_resolved_steps_start_from_the_resolution(policy: Policy) -> None:
    """Solving the ticket creates the remaining steps, chained from the resolution time."""
    solved = NOW + timedelta(days=1)
    tasks = policy.resolved_tasks(["team-lead", "gone"], solved)
    assert [(t.step, t.title, t.after, t.due) for t in tasks] == [
        (3, "Follow up", "resolved", solved + timedelta(days=3)),
        (4, "Share what was learned", "previous", solved + timedelta(days=8)),
    ]


def test_tiers_are_ranked_as_written(policy: Policy) -> None:
    """tier_rank follows the file order; none and unknown ids rank below everything."""
    assert [policy.tier_rank(t) for t in ("t1", "t2", "t3", None, "t9")] == [0, 1, 2, -1, -1]
    assert policy.tier("t2").name == "Team lead"
    with pytest.raises(KeyError):
        policy.tier("t9")


def test_needs_comments_only_when_comments_could_change_the_answer(policy: Policy) -> None:
    """Unknown comment text matters only for rules not yet fired and not already decided."""
    waiting = ticket(unknown={"latest_customer_comment", "customer_comments"})
    assert policy.needs_comments(waiting, NOW) is True
    both_fired = EvalContext(fired=frozenset({"manager", "legal"}))
    assert policy.needs_comments(waiting, NOW, both_fired) is False
    assert policy.needs_comments(ticket(latest_customer_comment="hi"), NOW) is False
