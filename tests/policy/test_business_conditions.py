"""`business = true` on time conditions, the instants they flip, and calendar validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from esc_sync.errors import PolicyError
from esc_sync.model import Ticket
from esc_sync.policy import load_policy

NY = ZoneInfo("America/New_York")
POLICY = """
[calendars.support]
timezone = "America/New_York"
holidays = { country = "US" }
[calendars.support.hours]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-17:00"

[[tiers]]
id = "t1"
name = "Frontline"
respond_within = "4h"
resolve_within = "2d"
calendar = "support"

[[tiers]]
id = "t2"
name = "Team lead"
respond_within = "2h"
resolve_within = "1d"
calendar = "support"

[[rules]]
id = "stale-pending"
name = "Pending for a business day"
when.all = [
  { field = "status", eq = "pending" },
  { field = "updated_at", older_than = "1d", business = true },
]
then.escalate_to = "t2"
"""


def policy_file(tmp_path: Path, text: str) -> Path:
    """One policy file in a temp folder."""
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_business_age_skips_the_weekend(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, POLICY))
    friday_noon = datetime(2026, 3, 13, 12, 0, tzinfo=NY)
    ticket = Ticket(id=1, status="pending", updated_at=friday_noon)

    monday_11 = datetime(2026, 3, 16, 11, 0, tzinfo=NY)  # 7 business hours later
    monday_12 = datetime(2026, 3, 16, 12, 0, tzinfo=NY)  # one business day (8h) later
    assert policy.evaluate(ticket, monday_11).matches == []
    assert [m.rule for m in policy.evaluate(ticket, monday_12).matches] == ["stale-pending"]
    # the due index learns the exact instant, in business time, not Saturday noon
    assert policy.next_time_change(ticket, friday_noon + timedelta(minutes=1)) == monday_12


def test_a_calendar_without_hours_is_refused_at_load(tmp_path: Path) -> None:
    text = "\n".join(line for line in POLICY.splitlines() if '= "09:00-17:00"' not in line)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_file(tmp_path, text))
    assert any(
        'calendar "support": hours: no business hours on any day' in line
        for line in exc.value.problems
    )


def test_unknown_timezone_and_country_are_named(tmp_path: Path) -> None:
    text = POLICY.replace("America/New_York", "America/Gotham").replace('"US"', '"XX"')
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_file(tmp_path, text))
    text_out = "\n".join(exc.value.problems)
    assert "unknown timezone 'America/Gotham'" in text_out
    assert "unknown holiday country 'XX'" in text_out
