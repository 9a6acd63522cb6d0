"""The wall clock, and the one place it can be set: `ESC_SYNC_NOW`.

Everything that asks "what time is it?" (the worker, the CLI's views, the sandbox) takes a clock:
a callable returning an aware UTC datetime. In production that is the system clock. For tests,
demos and reproducing a report from a given hour, `ESC_SYNC_NOW=2026-03-04T16:05:00Z` makes the
clock read that instant when the process starts and run on in real time from there (as
libfaketime's "@" form does), so a sandbox and the worker it serves agree on the hour.

Sleeping is injected the same way (a `Sleep` callable); `wait_alive` sleeps in slices and says
so between them, for a worker that keeps its leases through a deliberate pause.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from esc_sync.errors import ConfigError

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]
NOW_VARIABLE = "ESC_SYNC_NOW"


def system_now() -> datetime:
    """The system's wall clock, in UTC."""
    return datetime.now(UTC)


class ShiftedClock:
    """A clock that read `start` when it was made and advances in real (monotonic) time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's start must carry a time zone")
        self.start = start.astimezone(UTC)
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        """The shifted instant now."""
        return self.start + timedelta(seconds=time.monotonic() - self._origin)


def parse_instant(text: str, where: str) -> datetime:
    """An ISO 8601 instant with a zone (`Z` or an offset); ConfigError naming `where` if not."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not an ISO 8601 instant (e.g. 2026-03-04T16:05:00Z)"
        ) from None
    if value.tzinfo is None:
        raise ConfigError(f"{where}: {text!r} has no time zone (end it with Z or +HH:MM)")
    return value.astimezone(UTC)


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The system clock, or a shifted one when `ESC_SYNC_NOW` names a starting instant."""
    env = os.environ if environ is None else environ
    text = env.get(NOW_VARIABLE, "").strip()
    if not text:
        return system_now
    return ShiftedClock(parse_instant(text, NOW_VARIABLE))


def wait_alive(sleep: Sleep, seconds: float, every: float, beat: Callable[[], None]) -> None:
    """Sleep `seconds` in equal slices of at most `every`, calling `beat()` after each slice (so
    also just before returning): a deliberate wait that still shows the sleeper alive. One
    slice when `seconds` is within `every` (an infinite `every`: a plain sleep, then a beat)."""
    slices = math.ceil(seconds / every) if 0 < every < seconds else 1
    for _ in range(slices):
        sleep(seconds / slices)
        beat()
