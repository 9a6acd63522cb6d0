"""One helpdesk account's rate-limit budget, shared by every request its client sends.

    response headers ──► observe() ──► latest Quota (tightest advertised budget)
    429 + Retry-After ─► pause()   ──► one shared resume time for the whole account
    before each send ──► wait_turn(write) ─┬─ wait for the shared resume (staggered)
                                           └─ proactive pause when the quota runs low:
                                              reads below READ_FLOOR, writes only below
                                              WRITE_FLOOR, so reading never starves writes

Several workers (PostgreSQL state): `share(accounts, account)` joins the account's row in the
shared state. Every request then counts against it (`spend`, one round trip), waits out a 429
pause another worker met, and pauses when the account's remaining budget, as last reported
minus what every worker spent since, is below this kind's floor; each response's quota and each
429 are reported there. So two workers never spend twice the account's limit.

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
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class AccountBudgets(Protocol):
    """Where the workers sharing a helpdesk account meet (the shared state implements it)."""

    def spend(self, account: str) -> tuple[int | None, int | None, float]:
        """Count one request; (remaining after it, limit, seconds until a 429 pause ends)."""
        ...

    def report(self, account: str, remaining: int, limit: int) -> None:
        """The quota a response advertised (resets the count of requests spent since)."""
        ...

    def hold(self, account: str, seconds: float) -> None:
        """A 429: every worker on the account waits `seconds`."""
        ...


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
        self._shared: AccountBudgets | None = None
        self._account = ""

    def share(self, accounts: AccountBudgets, account: str) -> None:
        """Count this account's requests, pauses and quota with every other worker's."""
        self._shared, self._account = accounts, account

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
            if self._shared is not None:
                self._shared.report(self._account, quota.remaining, quota.limit)
        return quota

    def pause(self, seconds: float) -> float:
        """Hold the whole account for `seconds` after a 429; returns the shared resume time."""
        with self._lock:
            resume = max(self._resume, self._clock() + seconds)
            self._resume = resume
            self._next_slot = resume
        self._local.pending = resume
        self._log.warning("http.shared_pause", pause=round(seconds, 3))
        if self._shared is not None:
            self._shared.hold(self._account, seconds)
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
        if self._shared is not None:
            waited += self._wait_account(write)
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

    def _wait_account(self, write: bool) -> float:
        """Count this request with the other workers'; wait for their 429 pause or floor."""
        assert self._shared is not None
        remaining, limit, resume_in = self._shared.spend(self._account)
        with self._lock:
            own_pause = self._resume > self._clock()  # ours: `_wait_shared`/`rest` serve it
        delay, reason = 0.0, ""
        if resume_in > 0 and not own_pause:
            delay, reason = min(resume_in, MAX_PAUSE), "account-429"
        elif remaining is not None and limit:
            target = limit * self._floors[write]
            if remaining < target:
                needed = (target - remaining) * self._window / limit
                delay, reason = max(MIN_PAUSE, min(MAX_PAUSE, needed)), "account-floor"
        if delay > 0:
            self._log.info("http.account_pause", reason=reason, pause=round(delay, 3))
            self._record(reason, delay)
            self._sleep(delay)
        return delay

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
