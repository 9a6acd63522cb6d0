"""One helpdesk account's rate-limit budget, shared by every request its client sends.

    response headers ──► observe() ──► latest Quota (tightest advertised budget)
    429 + Retry-After ─► pause()   ──► one shared resume time for the whole account
    before each send ──► wait_turn(write) ─┬─ wait for the shared resume (staggered)
                                           └─ proactive pause when the quota runs low:
                                              reads below READ_FLOOR, writes only below
                                              WRITE_FLOOR, so reading never starves writes

The thread that met the 429 serves its pause through the retry loop (`rest`) and is then
exempt from that same pause; every other thread waits in `wait_turn` until the resume time,
released one `stagger` apart so they do not stampede back together. Thread-safe: state is
guarded by a lock, sleeping happens outside it. Clock and sleep are injected for tests; a
served pause is remembered, so a fake clock that never advances cannot loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from esc_sync import logs
from esc_sync.connectors.quota import Quota, read_quota

Clock = Callable[[], float]
Sleep = Callable[[float], None]

READ_FLOOR = 0.20  # reads pause when less than this share of the budget remains
WRITE_FLOOR = 0.05  # writes keep going down to this share: the head-room is theirs
WINDOW = 60.0  # seconds over which the helpdesk refills its budget (both are per minute)
MIN_PAUSE = 1.0
MAX_PAUSE = 60.0
STAGGER = 0.1  # seconds between requests released together after a shared pause

log = logs.get_logger("esc_sync.connectors")


@dataclass(slots=True)
class _Seen:
    """The last quota observed, when, and how many calls were spent since."""

    quota: Quota
    at: float
    spent: int = 0

    def remaining(self) -> int:
        """Calls left by the last report minus the calls sent since it."""
        return self.quota.remaining - self.spent


class Budget:
    """Rate-limit state of one account: quota, shared 429 pause, read/write floors."""

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        read_floor: float = READ_FLOOR,
        write_floor: float = WRITE_FLOOR,
        window: float = WINDOW,
        stagger: float = STAGGER,
        name: str = "",
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._floors = {False: read_floor, True: write_floor}
        self._window = window
        self._stagger = stagger
        self._lock = threading.Lock()
        self._seen: _Seen | None = None
        self._resume = 0.0  # shared resume time after a 429 (clock units)
        self._next_slot = 0.0  # next release time for staggered waiters
        self._local = threading.local()
        self._log = logs.get_logger("esc_sync.connectors", connector=name) if name else log
        self.pauses: list[tuple[str, float]] = []  # (reason, seconds) for reports and tests

    @property
    def quota(self) -> Quota | None:
        """The last quota the helpdesk advertised, if any."""
        with self._lock:
            return None if self._seen is None else self._seen.quota

    @property
    def resume_at(self) -> float:
        """The shared resume time after the last 429 (0 when none)."""
        with self._lock:
            return self._resume

    def observe(self, headers: Mapping[str, str]) -> Quota | None:
        """Take the budget from a response's headers (any Zendesk or Freshdesk spelling)."""
        quota = read_quota(headers)
        if quota is not None:
            with self._lock:
                self._seen = _Seen(quota, self._clock())
        return quota

    def pause(self, seconds: float) -> float:
        """Hold the whole account for `seconds` after a 429; returns the shared resume time."""
        with self._lock:
            resume = max(self._resume, self._clock() + seconds)
            self._resume = resume
            self._next_slot = resume
        self._local.pending = resume
        self._log.warning("http.shared_pause", pause=round(seconds, 3))
        return resume

    def rest(self, seconds: float) -> None:
        """Sleep in the retry loop; the caller has then served the pause it triggered."""
        self._sleep(seconds)
        pending = getattr(self._local, "pending", 0.0)
        self._local.served = max(getattr(self._local, "served", 0.0), pending)
        self._local.pending = 0.0

    def wait_turn(self, write: bool) -> float:
        """Block until this request may go (shared pause, then floors); returns seconds waited."""
        waited = self._wait_shared()
        with self._lock:
            delay, seen = self._proactive(write, self._clock())
        if delay > 0 and seen is not None:
            kind = "write" if write else "read"
            self._log.info(
                "http.quota_pause",
                kind=kind,
                remaining=seen.remaining(),
                limit=seen.quota.limit,
                pause=round(delay, 3),
            )
            self._record(f"quota-{kind}", delay)
            self._sleep(delay)
            waited += delay
            with self._lock:
                if self._seen is seen:  # no fresher report came in: assume the refill happened
                    floor = math.ceil(seen.quota.limit * self._floors[write])
                    seen.spent = min(seen.spent, seen.quota.remaining - floor)
        with self._lock:
            if self._seen is not None:
                self._seen.spent += 1
        return waited

    def _wait_shared(self) -> float:
        """Wait for the shared resume time unless this thread already served that pause."""
        served = getattr(self._local, "served", 0.0)
        with self._lock:
            now = self._clock()
            if self._resume <= served or self._resume <= now:
                return 0.0
            slot = max(self._resume, self._next_slot)
            self._next_slot = slot + self._stagger
            delay = slot - now
            resume = self._resume
        self._record("shared-429", delay)
        self._sleep(delay)
        self._local.served = max(served, resume)
        return delay

    def _proactive(self, write: bool, now: float) -> tuple[float, _Seen | None]:
        """Seconds to wait so the budget climbs back to this kind's floor (0 when above)."""
        seen = self._seen
        if seen is None or seen.quota.limit <= 0:
            return 0.0, None
        limit = seen.quota.limit
        target = limit * self._floors[write]
        left = seen.remaining()
        if left >= target:
            return 0.0, None
        elapsed = max(0.0, now - seen.at)
        if seen.quota.reset is not None:
            needed = seen.quota.reset
        else:
            needed = (target - left) * self._window / limit
        delay = needed - elapsed
        if delay <= 0:
            return 0.0, None
        return max(MIN_PAUSE, min(MAX_PAUSE, delay)), seen

    def _record(self, reason: str, seconds: float) -> None:
        """Remember a pause (thread-safe append)."""
        with self._lock:
            self.pauses.append((reason, seconds))
