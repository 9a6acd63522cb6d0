"""The shipped rules/ folder: it loads cleanly, and each rule fires on its story, not its decoy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esc_sync.model import Ticket
from esc_sync.policy import EvalContext, Policy, load_policy

from .stories import NOW, RULES_DIR, ticket

OPEN = {"status": "open"}

STORIES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "manager-request",
        {**OPEN, "latest_customer_comment": "Please let me speak to someone in charge."},
        {**OPEN, "latest_customer_comment": "The management console is slow today."},
    ),
    (
        "legal-threat",
        {**OPEN, "customer_comments": "We will take legal action if this is not fixed."},
        {**OPEN, "customer_comments": "Sue from billing said she would call me back."},
    ),
    (
        "vip-high-priority",
        {**OPEN, "priority": "high", "organization": {"tags": ["enterprise"]}},
        {**OPEN, "priority": "normal", "organization": {"tags": ["enterprise"]}},
    ),
    (
        "repeat-issue",
        {**OPEN, "reopens": 2},
        {**OPEN, "reopens": 1, "requester": {"tickets_30d": 2}},
    ),
    (
        "urgent-no-reply",
        {
            "status": "new",
            "priority": "urgent",
            "agent_replies": 0,
            "created_at": NOW - timedelta(hours=5),
        },
        {
            "status": "new",
            "priority": "urgent",
            "agent_replies": 1,
            "created_at": NOW - timedelta(hours=5),
        },
    ),
    (
        "bad-satisfaction",
        {"status": "solved", "satisfaction": "bad"},
        {"status": "closed", "satisfaction": "bad"},
    ),
    (
        "financial-impact",
        {**OPEN, "custom": {"refund_amount": 500}},
        {**OPEN, "custom": {"refund_amount": "499.99"}},
    ),
    (
        "needs-approval",
        {**OPEN, "tags": ["needs_approval"]},
        {**OPEN, "tags": ["approved"]},
    ),
]


def matched(policy: Policy, subject: Ticket, ctx: EvalContext | None = None) -> list[str]:
    """The rule ids that match a ticket."""
    return [m.rule for m in policy.evaluate(subject, NOW, ctx or EvalContext()).matches]


def test_the_shipped_policy_loads_without_problems(default_policy: Policy) -> None:
    """rules/ validates, with the ids the sandbox seed and integration tests rely on."""
    assert [t.id for t in default_policy.tiers] == ["t1", "t2", "t3", "t4"]
    assert [r.id for r in default_policy.rules] == [
        "manager-request",
        "legal-threat",
        "vip-high-priority",
        "repeat-issue",
        "urgent-no-reply",
        "outage-surge",
        "bad-satisfaction",
        "financial-impact",
        "needs-approval",
    ]
    assert set(default_policy.playbooks) == {"frontline", "team-lead", "specialist", "executive"}
    assert default_policy.ladder.top == "t4"
    assert default_policy.ladder.remind_before == ["1h", "15m"]
    assert default_policy.calendars["support"].timezone == "America/New_York"
    assert default_policy.templates.names() == ["briefing", "notify", "transfer"]


def test_the_shipped_policy_also_loads_without_a_profile() -> None:
    """Without the profile's custom fields, custom.<name> is accepted as written."""
    assert len(load_policy(RULES_DIR).rules) == 9

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("rule", "story", "decoy"), STORIES, ids=[s[0] for s in STORIES])
def test_each_rule_fires_on_its_story_and_not_on_its_decoy(
    default_policy: Policy, rule: str, story: dict[str, Any], decoy: dict[str, Any]
) -> None:
    """The ticket built for a rule matches exactly that rule; the near miss matches nothing."""
    assert matched(default_policy, ticket(**story)) == [rule]
    assert matched(default_policy, ticket(**decoy)) == []


def test_manager_request_escalates_to_team_lead_with_its_playbook(default_policy: Policy) -> None:
    """A frontline customer asking for a supervisor: t2, high, note, customer message, 6 tasks."""
    decision = default_policy.evaluate(
        ticket(tier="t1", priority="normal", latest_customer_comment="Escalate this now!"), NOW
    )
    assert decision.target_tier == "t2"
    assert decision.priority == "high"
    assert decision.tags == ["esc-manager-request"]
    assert (decision.note_template, decision.customer_template) == ("briefing", "transfer")
    assert decision.playbooks == ["team-lead"]
    assert decision.deadlines is not None
    # business time on the support calendar (Mon-Fri 09:00-17:00 New York), from Monday 10:00
    assert decision.deadlines.respond_by == NOW + timedelta(hours=2)
    assert decision.deadlines.resolve_by == NOW + timedelta(days=1)  # one business day
    local = [t.due.astimezone(NEW_YORK).strftime("%a %H:%M") for t in decision.tasks if t.due]
    assert local == ["Mon 12:00", "Mon 16:00", "Tue 14:00", "Wed 14:00", "Thu 14:00", "Fri 14:00"]
    follow_up = default_policy.resolved_tasks(["team-lead"], NOW, "t2")
    assert [t.due.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for t in follow_up if t.due] == [
        "03-05 10:00",  # three business days after Monday 10:00
        "03-12 10:00",  # five more, across the DST change of 8 March
    ]


def test_outage_surge_fires_only_with_five_reports_in_an_hour(default_policy: Policy) -> None:
    """One "can't log in" ticket is noise; five in an hour is an outage."""
    created = NOW - timedelta(minutes=10)
    report = ticket(status="new", subject="Can't login since this morning", created_at=created)
    assert matched(default_policy, report) == []
    assert default_policy.surge_candidates(report, NOW) == ["outage-surge"]
    times = [created + timedelta(minutes=m) for m in (-30, -20, -10, 0, 5)]
    assert matched(default_policy, report, EvalContext(surge_times={"outage-surge": times})) == [
        "outage-surge"
    ]
    decoy = ticket(status="new", subject="Download the invoice", created_at=created)
    assert default_policy.surge_candidates(decoy, NOW) == []


def test_legal_threat_needs_the_comments(default_policy: Policy) -> None:
    """Without comment text the engine asks for it instead of guessing."""
    blind = ticket(status="open", unknown={"customer_comments", "latest_customer_comment"})
    assert default_policy.needs_comments(blind, NOW) is True
    fired = EvalContext(fired=frozenset({"manager-request", "legal-threat", "urgent-no-reply"}))
    assert default_policy.needs_comments(blind, NOW, fired) is False
