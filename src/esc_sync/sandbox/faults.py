"""Injected faults and rate limits: how the sandbox misbehaves on purpose."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from esc_sync.sandbox.errors import ApiError, record_invalid

JOB_KINDS = ("job_items", "job_stuck", "job_vanish", "job_failed", "job_killed")
KINDS = ("429", "422", "500", "503", "slow", "malformed", "timeout", *JOB_KINDS)
_SUBMISSION = re.compile(r"/tickets/(?:update_many|create_many)(?:\.json)?/?$")


@dataclass(slots=True)
class Fault:
    """The next `count` requests matching `path` (a regex) and `method` get this fault.

    - 429 / 503: refused with `Retry-After: 1` (the request is not processed);
    - 500: an HTML error page (not processed);
    - slow: processed normally after sleeping `seconds`;
    - malformed: processed, then answered 200 with the JSON body cut in half (`apply=False`
      answers without processing);
    - timeout: no answer: the connection is held `seconds` then closed (`apply=True` processes
      the request first, like a write whose response was lost; `seconds=0` closes at once);
    - 500 with `apply=True`: processed, then answered with the error page (a lost answer).

    Job faults match only bulk submissions (`PUT tickets/update_many`, `POST
    tickets/create_many`); the submission is accepted and its job misbehaves when it runs:

    - job_items: the items whose ticket id is in `ids` or whose position is in `indexes` fail
      (`error`, default "RecordInvalid"; "UpdateConflict" reports a safe-update conflict),
      the others are applied and the job completes;
    - job_stuck: the first `applied` items (default 0) are applied, then the job stays
      `working` forever;
    - job_vanish: the first `applied` items (default all) are applied, then the job's status
      is gone (404, absent from show_many);
    - job_failed / job_killed: the first `applied` items (default 0) are applied, then the job
      ends `failed` / `killed` without results.
    """

    kind: str
    count: int = 1
    path: str | None = None
    method: str | None = None
    seconds: float = 2.0
    apply: bool | None = None
    rate: float | None = None  # set: each matching request gets the fault with this chance
    ids: tuple[int, ...] = ()  # job_items: ticket ids of the items that fail
    indexes: tuple[int, ...] = ()  # job_items: positions of the items that fail
    error: str | None = None  # job_items: the error code of the failed items
    applied: int | None = None  # job_stuck/vanish/failed/killed: items applied first

    @property
    def processes(self) -> bool:
        """Whether the request behind the fault is still carried out."""
        if self.apply is not None:
            return self.apply
        return self.kind in ("slow", "malformed")

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to the request."""
        if self.method and self.method.upper() != method:
            return False
        if self.kind in JOB_KINDS and (
            method not in ("PUT", "POST") or _SUBMISSION.search(path) is None
        ):
            return False
        return self.path is None or re.search(self.path, path) is not None

    def describe(self) -> dict[str, Any]:
        """The fault as JSON."""
        described: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count,
            "path": self.path,
            "method": self.method,
            "seconds": self.seconds,
            "apply": self.processes,
            "rate": self.rate,
        }
        if self.kind in JOB_KINDS:
            described |= {
                "ids": list(self.ids),
                "indexes": list(self.indexes),
                "error": self.error,
                "applied": self.applied,
            }
        return described


def fault_from(body: Any) -> Fault:
    """Parse a `POST /__sandbox/faults` body, refusing unknown kinds and bad regexes."""
    if not isinstance(body, dict) or str(body.get("kind")) not in KINDS:
        raise record_invalid("kind", f"kind must be one of {', '.join(KINDS)}")
    path = body.get("path")
    if path is not None:
        try:
            re.compile(str(path))
        except re.error as exc:
            raise record_invalid("path", f"invalid regular expression: {exc}") from exc
    count = body.get("count", 1)
    seconds = body.get("seconds", 2.0)
    if not isinstance(count, int) or count < 1:
        raise record_invalid("count", "count must be a positive integer")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise record_invalid("seconds", "seconds must be a non-negative number")
    apply = body.get("apply")
    rate = body.get("rate")
    if rate is not None and (not isinstance(rate, int | float) or not 0 < rate <= 1):
        raise record_invalid("rate", "rate must be a number in (0, 1]")
    applied = body.get("applied")
    if applied is not None and (not _is_count(applied)):
        raise record_invalid("applied", "applied must be a non-negative integer")
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        raise record_invalid("error", "error must be a string")
    return Fault(
        kind=str(body["kind"]),
        count=count,
        path=None if path is None else str(path),
        method=None if body.get("method") is None else str(body["method"]).upper(),
        seconds=float(seconds),
        apply=None if apply is None else bool(apply),
        rate=None if rate is None else float(rate),
        ids=_counts(body, "ids"),
        indexes=_counts(body, "indexes"),
        error=error,
        applied=applied,
    )


def _is_count(value: Any) -> bool:
    """A non-negative integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(body: dict[str, Any], key: str) -> tuple[int, ...]:
    """A list of non-negative integers from a fault body (absent: empty)."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(_is_count(v) for v in value):
        raise record_invalid(key, f"{key} must be a list of non-negative integers")
    return tuple(value)


class FaultBook:
    """The queue of armed faults; the first armed fault that matches a request is spent."""

    def __init__(self, seed: int = 7) -> None:
        """No faults armed; `seed` makes rate-based faults repeatable."""
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def arm(self, fault: Fault) -> None:
        """Add a fault at the end of the queue."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[dict[str, Any]]:
        """The faults still armed."""
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """Spend one use of the first matching fault, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.rate is not None and self._random.random() >= fault.rate:
                        continue
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class RateLimit:
    """A sliding one-minute budget of `limit` requests."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        """A budget of `limit` requests per 60 seconds."""
        self.limit = limit
        self._clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        """Forget hits older than a minute."""
        while self._hits and self._hits[0] <= now - 60:
            self._hits.popleft()

    def spend(self, body: dict[str, str]) -> None:
        """Count one request, or raise 429 with Retry-After when the budget is used up."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            if len(self._hits) >= self.limit:
                wait = max(1, math.ceil(self._hits[0] + 60 - now))
                raise ApiError(429, body, {"Retry-After": str(wait)})
            self._hits.append(now)

    def remaining(self) -> int:
        """Requests left in the current minute."""
        with self._lock:
            self._trim(self._clock())
            return max(0, self.limit - len(self._hits))

    def resets(self) -> int:
        """Seconds until the oldest counted request leaves the window."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            return max(1, math.ceil(self._hits[0] + 60 - now)) if self._hits else 60
