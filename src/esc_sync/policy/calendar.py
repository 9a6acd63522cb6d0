"""Business time: adding and measuring durations on a calendar of weekly hours and holidays.

Pure functions of their inputs. Opening hours are local wall-clock times in the calendar's IANA
zone, so a deadline keeps to 09:00-17:00 across daylight-saving changes; elapsed business time
is real elapsed time inside opening hours (an hour lost or gained at night changes nothing, and a
change inside opening hours counts as it really passed).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_library

from esc_sync.durations import parse_duration
from esc_sync.policy import schema

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 3 * 366  # a calendar with no opening in three years can never meet a deadline


class NeverOpen(ValueError):
    """The calendar has no business hours: a business deadline could never be met."""


def _minutes(text: str) -> int:
    """Minutes since midnight of "HH:MM" ("24:00" is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class BusinessCalendar:
    """A calendar's business hours, with duration arithmetic on it."""

    def __init__(self, spec: schema.Calendar, name: str = "") -> None:
        self.name = name
        self.zone = ZoneInfo(spec.timezone)
        self.hours: dict[int, tuple[int, int]] = {}
        for index, day in enumerate(WEEKDAYS):
            span = getattr(spec.hours, day)
            if span:
                start, end = span.split("-")
                self.hours[index] = (_minutes(start), _minutes(end))
        rules = spec.holidays
        self.country = rules.country if rules else None
        self.subdiv = rules.subdiv if rules else None
        self.extra = frozenset(rules.extra) if rules else frozenset()
        self.worked = frozenset(rules.except_) if rules else frozenset()
        if not self.hours:
            raise NeverOpen(f"calendar {name!r} has no business hours: no deadline could be met")
        lengths = Counter(end - start for start, end in self.hours.values())
        self.business_day = timedelta(minutes=lengths.most_common(1)[0][0])

    # -- days -------------------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        """A public holiday or an extra day off (unless listed as worked anyway)."""
        if day in self.worked:
            return False
        if day in self.extra:
            return True
        if self.country is None:
            return False
        return day in _public_holidays(self.country, self.subdiv, day.year)

    def opening(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's business interval as aware datetimes, or None when closed."""
        span = self.hours.get(day.weekday())
        if span is None or self.is_holiday(day):
            return None
        return self._at(day, span[0]), self._at(day, span[1])

    def _at(self, day: date, minutes: int) -> datetime:
        """The instant of a local wall-clock time on a day (24:00 is the next midnight)."""
        if minutes >= 24 * 60:
            return datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return datetime.combine(day, time(minutes // 60, minutes % 60), self.zone)

    # -- arithmetic -------------------------------------------------------------------------

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """The instant when `delta` of business time has passed after `start`."""
        if delta <= timedelta(0):
            return start
        remaining = delta
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            span = self.opening(day + timedelta(days=offset))
            if span is None:
                continue
            begin = max(span[0], start)
            if begin >= span[1]:
                continue
            available = span[1] - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise NeverOpen(f"calendar {self.name!r}: no business hours within {SEARCH_DAYS} days")

    def subtract(self, end: datetime, delta: timedelta) -> datetime:
        """The latest instant `delta` of business time before `end` (the inverse of `add`)."""
        if delta <= timedelta(0):
            return end
        remaining = delta
        day = end.astimezone(self.zone).date() + timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            span = self.opening(day - timedelta(days=offset))
            if span is None:
                continue
            finish = min(span[1], end)
            if finish <= span[0]:
                continue
            available = finish - span[0]
            if remaining <= available:
                return finish - remaining
            remaining -= available
        raise NeverOpen(f"calendar {self.name!r}: no business hours within {SEARCH_DAYS} days")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed from `start` to `end` (zero when end is not after start)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        while day <= last:
            span = self.opening(day)
            if span is not None:
                begin, finish = max(span[0], start), min(span[1], end)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def span(self, text: str) -> timedelta:
        """A duration string in business time: "d" is one business day of this calendar."""
        delta = parse_duration(text)
        return delta.days * self.business_day + timedelta(seconds=delta.seconds)


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """A country's public holidays in one year, from the holiday library."""
    return frozenset(holiday_library.country_holidays(country, subdiv=subdiv, years=year))
