"""Cross-ticket triggers: a surge fires for every matching ticket inside a full window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from esc_sync.model import Evidence
from esc_sync.policy import EvalContext, Policy

from .stories import NOW, ticket

OUTAGE = """
[[rules]]
id = "outage"
name = "Outage"
when.any = [{ field = "subject", matches = '(?i)\\b(down|outage)\\b' }]
surge = { at_least = 5, within = "1h" }
then.escalate_to = "t3"
then.tags = ["esc-outage"]
"""


@pytest.fixture
def policy(policy_from: Any) -> Policy:
    """A five-in-an-hour outage rule."""
    built: Policy = policy_from(OUTAGE)
    return built


def reports(*minutes: int) -> list[datetime]:
    """Creation times of outage reports, minutes after the first."""
    start = NOW - timedelta(hours=2)
    return [start + timedelta(minutes=m) for m in minutes]


def fires(policy: Policy, created: datetime, times: list[datetime]) -> bool:
    """Whether the outage rule fires for a ticket created at `created`."""
    subject = ticket(subject="Site is down", created_at=created)
    ctx = EvalContext(surge_times={"outage": times})
    return [m.rule for m in policy.evaluate(subject, NOW, ctx).matches] == ["outage"]


def test_four_reports_in_an_hour_are_not_a_surge(policy: Policy) -> None:
    """Four is one short of the threshold."""
    times = reports(0, 10, 20, 30)
    assert not any(fires(policy, at, times) for at in times)


def test_five_reports_in_an_hour_fire_for_all_five(policy: Policy) -> None:
    """The fifth report completes the window, and every report in it fires."""
    times = reports(0, 10, 20, 30, 60)
    assert all(fires(policy, at, times) for at in times)


def test_five_reports_spread_over_hours_are_not_a_surge(policy: Policy) -> None:
    """Five reports, but never five within one hour."""
    times = reports(0, 40, 80, 120, 160)
    assert not any(fires(policy, at, times) for at in times)


def test_only_the_reports_inside_a_full_window_fire(policy: Policy) -> None:
    """An early report two hours before the burst stays out of it."""
    burst = reports(120, 125, 130, 135, 140)
    times = [*reports(0), *burst]
    assert not fires(policy, times[0], times)
    assert all(fires(policy, at, times) for at in burst)


def test_the_surge_count_is_evidence(policy: Policy) -> None:
    """The briefing can say how many tickets made the surge."""
    times = reports(0, 1, 2, 3, 4, 5)
    subject = ticket(subject="Outage again", created_at=times[2])
    decision = policy.evaluate(subject, NOW, EvalContext(surge_times={"outage": times}))
    assert decision.matches[0].evidence == (
        Evidence("subject", "matches", "(?i)\\b(down|outage)\\b", "Outage"),
        Evidence("surge", "at_least", 5, 6),
    )


def test_surge_candidates_ignore_the_count(policy: Policy) -> None:
    """The worker records every ticket whose conditions hold, surge or not."""
    assert policy.surge_candidates(ticket(subject="API down"), NOW) == ["outage"]
    assert policy.surge_candidates(ticket(subject="Invoice"), NOW) == []
    assert policy.surge_windows() == {"outage": timedelta(hours=1)}
    assert policy.surge_threshold("outage") == 5
