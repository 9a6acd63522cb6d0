"""Targets by priority and by customer: the most specific target wins, profiles are chosen by
conditions (first match), and a broken profile or target is refused naming file, item, field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esc_sync.errors import PolicyError
from esc_sync.model import Organization, Ticket
from esc_sync.policy import load_policy, schema

from .stories import NOW, RULES_DIR, write

TIERS = """
[[tiers]]
id = "t1"
name = "Frontline"
respond_within = "4h"
resolve_within = "2d"

[[tiers]]
id = "t2"
name = "Team lead"
respond_within = "2h"
resolve_within = "1d"
targets.urgent = { respond_within = "30m", resolve_within = "4h" }
targets.high = { respond_within = "1h" }

[calendars.24x7]
timezone = "UTC"
hours.mon = "00:00-24:00"
hours.tue = "00:00-24:00"
hours.wed = "00:00-24:00"
hours.thu = "00:00-24:00"
hours.fri = "00:00-24:00"
hours.sat = "00:00-24:00"
hours.sun = "00:00-24:00"
"""

GOLD = """
[[sla_profiles]]
id = "gold"
when.any = [{ field = "organization.tags", contains = "gold" }]
calendar = "24x7"
targets.t2 = { respond_within = "15m", resolve_within = "2h" }
"""


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rules/ folder with two tiers, a 24x7 calendar and a briefing template."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "rules"
    write(folder, "tiers.toml", TIERS)
    write(folder, "templates/briefing.md.j2", "{{ marker }}\n")
    return folder


def problems() -> list[str]:
    """Load ./rules and return the problem lines (failing the test when it loads)."""
    with pytest.raises(PolicyError) as caught:
        load_policy(Path("rules"))
    return caught.value.problems


def ticket(priority: str | None = "normal", *tags: str) -> Ticket:
    """An open ticket of an organization with these tags."""
    return Ticket(id=1, status="open", priority=priority,
                  organization=Organization(name="Contoso", tags=tuple(tags)))


def test_the_most_specific_target_wins(rules_dir: Path) -> None:
    write(rules_dir, "sla.toml", GOLD)
    policy = load_policy(Path("rules"))
    normal = policy.deadlines("t2", NOW, None, "normal")
    assert normal.respond_by - NOW == timedelta(hours=2)  # no calendar: calendar time
    assert normal.target is not None and normal.target.respond_from == "tier"
    high = policy.deadlines("t2", NOW, None, "high")
    assert high.respond_by - NOW == timedelta(hours=1)  # the priority's target
    assert high.resolve_by - NOW == timedelta(days=1)  # ...and the tier's default for the rest
    gold = policy.deadlines("t2", NOW, "gold", "urgent")
    assert gold.respond_by - NOW == timedelta(minutes=15)  # the profile's target beats both
    assert gold.target is not None
    assert gold.target.describe() == (
        "gold, t2 urgent: respond within 15m (gold target), resolve within 2h (gold target) "
        "on the 24x7 calendar"
    )
    assert policy.deadlines("t1", NOW, "gold", "urgent").respond_by - NOW == timedelta(hours=4)


def test_the_first_matching_profile_is_chosen_and_a_raise_by_the_rule_counts(
    rules_dir: Path,
) -> None:
    write(rules_dir, "sla.toml", GOLD)
    write(rules_dir, "triggers.toml", """
[[rules]]
id = "outage"
name = "Outage"
when.all = [{ field = "subject", matches = "down" }]
then.escalate_to = "t2"
then.priority = "urgent"
""")
    policy = load_policy(Path("rules"))
    assert policy.profile_for(ticket("normal", "gold"), NOW) == "gold"
    assert policy.profile_for(ticket("normal", "silver"), NOW) is None
    down = Ticket(id=2, status="open", priority="normal", subject="site down")
    decision = policy.evaluate(down, NOW)
    assert decision.deadlines is not None and decision.deadlines.target is not None
    assert decision.deadlines.target.priority == "urgent"
    assert decision.deadlines.respond_by - NOW == timedelta(minutes=30)


def test_counting_again_keeps_the_time_spent_paused(rules_dir: Path) -> None:
    write(rules_dir, "sla.toml", GOLD)
    policy = load_policy(Path("rules"))
    entered = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    first = policy.deadlines("t2", entered, None, "normal")
    paused = first.resolve_by + timedelta(minutes=45)  # 45 minutes spent waiting on the customer
    again = policy.retarget("t2", entered, paused, (None, "normal"), ("gold", "normal"), None,
                            entered + timedelta(hours=1))
    assert again.respond_by == entered + timedelta(minutes=15)
    assert again.resolve_by == entered + timedelta(hours=2, minutes=45)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[tiers]]\nid = "t3"\nname = "S"\nrespond_within = "1h"\nresolve_within = "8h"\n'
            'targets.urgnet = { respond_within = "30m" }\n',
            'rules/more.toml: tier "t3": targets.urgnet: unknown priority "urgnet" '
            '(did you mean "urgent"?); use: low, normal, high, urgent',
        ),
        (
            '[[sla_profiles]]\nid = "gold"\ntargets.t9 = { respond_within = "30m" }\n'
            'when.any = [{ field = "organization.tags", contains = "gold" }]\n',
            'rules/more.toml: sla_profile "gold": targets.t9: unknown tier "t9"; use: t1, t2',
        ),
        (
            '[[sla_profiles]]\nid = "gold"\ncalendar = "24x6"\n'
            'when.any = [{ field = "organization.tags", contains = "gold" }]\n',
            'rules/more.toml: sla_profile "gold": calendar: unknown calendar "24x6" '
            '(did you mean "24x7"?); use: 24x7',
        ),
        (
            '[[sla_profiles]]\nid = "gold"\n'
            'when.any = [{ field = "organization.tgs", contains = "gold" }]\n',
            'rules/more.toml: sla_profile "gold": when.any[0].field: unknown field '
            '"organization.tgs" (did you mean "organization.tags"?)',
        ),
        (
            '[[sla_profiles]]\nid = "gold"\ntargets.t2 = { respond_within = "soon" }\n',
            "rules/more.toml: sla_profile \"gold\": targets.t2.respond_within: invalid duration",
        ),
    ],
)
def test_a_broken_target_or_profile_names_file_item_and_field(
    rules_dir: Path, text: str, expected: str
) -> None:
    write(rules_dir, "more.toml", text)
    found = problems()
    assert any(line.startswith(expected) for line in found), found


def test_a_profile_an_earlier_one_always_shadows_is_reported(rules_dir: Path) -> None:
    write(rules_dir, "sla.toml", GOLD + """
[[sla_profiles]]
id = "gold-emea"
when.all = [{ field = "requester.email", matches = "@eu\\\\." }]
when.any = [{ field = "organization.tags", contains = "gold" }]
targets.t2 = { respond_within = "10m" }

[[sla_profiles]]
id = "everyone"
targets.t2 = { respond_within = "1h" }

[[sla_profiles]]
id = "never"
when.any = [{ field = "priority", eq = "low" }]
""")
    assert problems() == [
        'rules/sla.toml: sla_profile "gold-emea": when: can never match: the earlier profile '
        '"gold" (rules/sla.toml) matches every ticket this does, and the first match wins '
        "(move this one above it, or narrow that one)",
        'rules/sla.toml: sla_profile "never": when: can never match: the earlier profile '
        '"everyone" (rules/sla.toml) matches every ticket, and the first match wins '
        "(move this one above it, or narrow that one)",
    ]


def test_the_schema_covers_targets_and_profiles() -> None:
    text = json.dumps(schema.json_schema())
    assert "sla_profiles" in text and "SlaProfile" in text and "Target" in text
    tier = schema.json_schema()["$defs"]["Tier"]["properties"]
    assert "targets" in tier


def test_the_shipped_policy_has_priority_targets_on_every_tier_and_a_gold_profile() -> None:
    policy = load_policy(RULES_DIR)
    assert all(tier.targets for tier in policy.tiers)
    assert [p.id for p in policy.profiles] == ["gold"]
    assert policy.profiles[0].spec.calendar == "24x7"
