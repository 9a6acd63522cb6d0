"""Business time on a calendar: exact across weekends, holidays, DST and mid-day ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esc_sync.policy import schema
from esc_sync.policy.calendar import BusinessCalendar, NeverOpen

NY = ZoneInfo("America/New_York")
WEEKDAYS = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def calendar(hours: dict[str, str] | None = None, **holidays: object) -> BusinessCalendar:
    """A New York calendar, Mon-Fri 9-17 with US holidays unless told otherwise."""
    spec = schema.Calendar.model_validate({
        "timezone": "America/New_York",
        "hours": hours or WEEKDAYS,
        "holidays": {"country": "US", **holidays},
    })
    return BusinessCalendar(spec, "support")


def ny(*args: int) -> datetime:
    """A New York wall-clock instant."""
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def test_four_hours_from_friday_afternoon_land_on_monday_morning() -> None:
    cal = calendar()
    assert cal.add(ny(2026, 3, 6, 15, 0), timedelta(hours=4)) == ny(2026, 3, 9, 11, 0)


def test_a_start_outside_hours_counts_from_the_next_opening() -> None:
    cal = calendar()
    assert cal.add(ny(2026, 3, 7, 12, 0), timedelta(hours=1)) == ny(2026, 3, 9, 10, 0)
    assert cal.add(ny(2026, 3, 9, 7, 30), timedelta(minutes=30)) == ny(2026, 3, 9, 9, 30)


def test_public_holidays_and_extra_days_are_skipped() -> None:
    cal = calendar(extra=["2026-12-24"])
    # Thanksgiving 2026 is Thursday 26 November
    assert cal.add(ny(2026, 11, 25, 16, 0), timedelta(hours=2)) == ny(2026, 11, 27, 10, 0)
    # 24 December (extra) and 25 December (Christmas) are both closed
    assert cal.add(ny(2026, 12, 23, 16, 0), timedelta(hours=2)) == ny(2026, 12, 28, 10, 0)


def test_a_day_listed_under_except_is_worked() -> None:
    cal = calendar(**{"except": ["2026-11-26"]})
    assert cal.add(ny(2026, 11, 25, 16, 0), timedelta(hours=2)) == ny(2026, 11, 26, 10, 0)


def test_dst_change_keeps_wall_clock_hours() -> None:
    cal = calendar()
    # clocks go forward on Sunday 8 March 2026; Friday 16:00 + 2h is Monday 10:00 local
    end = cal.add(ny(2026, 3, 6, 16, 0), timedelta(hours=2))
    assert end == ny(2026, 3, 9, 10, 0)
    assert end.astimezone(UTC).hour == 14  # EDT, UTC-4 (it was UTC-5 on Friday)


def test_business_days_in_durations_are_calendar_days_of_work() -> None:
    cal = calendar()
    assert cal.span("1d4h") == timedelta(hours=12)
    assert cal.add(ny(2026, 3, 9, 9, 0), cal.span("2d")) == ny(2026, 3, 10, 17, 0)


def test_between_measures_only_open_time() -> None:
    cal = calendar()
    assert cal.between(ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 10, 0)) == timedelta(hours=2)
    assert cal.between(ny(2026, 3, 9, 10, 0), ny(2026, 3, 9, 10, 0)) == timedelta(0)


def test_a_calendar_with_no_hours_is_refused() -> None:
    spec = schema.Calendar.model_validate({"timezone": "UTC", "hours": {}})
    with pytest.raises(NeverOpen):
        BusinessCalendar(spec, "never")


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
spans = st.integers(min_value=0, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))
CAL = calendar()


@settings(max_examples=150, deadline=None)
@given(instants, spans)
def test_adding_then_measuring_gives_the_duration_back(start: datetime, span: timedelta) -> None:
    assert CAL.between(start, CAL.add(start, span)) == span


@settings(max_examples=150, deadline=None)
@given(instants, spans.filter(lambda s: s > timedelta(0)))
def test_a_deadline_never_falls_outside_business_hours(start: datetime, span: timedelta) -> None:
    end = CAL.add(start, span).astimezone(NY)
    opening = CAL.opening(end.date())
    assert opening is not None and opening[0] < end <= opening[1]
    assert end.date() != date(2026, 12, 25)


@settings(max_examples=150, deadline=None)
@given(instants, spans, spans)
def test_adding_is_monotonic(start: datetime, a: timedelta, b: timedelta) -> None:
    low, high = sorted((a, b))
    assert CAL.add(start, low) <= CAL.add(start, high)
    assert CAL.add(start, low) <= CAL.add(start + timedelta(hours=1), low)


def test_subtracting_steps_back_over_the_weekend() -> None:
    assert CAL.subtract(ny(2026, 3, 16, 9, 30), timedelta(hours=1)) == ny(2026, 3, 13, 16, 30)
    assert CAL.subtract(ny(2026, 3, 16, 9, 30), timedelta(minutes=30)) == ny(2026, 3, 16, 9, 0)
    assert CAL.subtract(ny(2026, 11, 27, 10, 0), timedelta(hours=2)) == ny(2026, 11, 25, 16, 0)


@settings(max_examples=150, deadline=None)
@given(instants, spans)
def test_subtracting_undoes_adding(start: datetime, span: timedelta) -> None:
    end = CAL.add(start, span)
    back = CAL.subtract(end, span)
    assert back <= end and CAL.between(back, end) == span
    assert CAL.between(start, back) == timedelta(0)  # no business time lies between
