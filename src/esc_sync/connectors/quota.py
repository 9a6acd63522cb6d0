"""Rate-limit headers: every spelling Zendesk and Freshdesk use, read defensively.

x-rate-limit / x-rate-limit-remaining               Zendesk account budget
rate-limit / rate-limit-remaining / rate-limit-reset  Zendesk (newer spelling)
ratelimit-limit / ratelimit-remaining / ratelimit-reset  IETF draft spelling
zendesk-rate-limit-<endpoint>: total=..; remaining=..; resets=..  endpoint budgets
X-RateLimit-Total / X-RateLimit-Remaining           Freshdesk credits per minute
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*([0-9.]+)\s*")


@dataclass(frozen=True, slots=True)
class Quota:
    """What a response's rate-limit headers say is left of the budget."""

    remaining: int
    limit: int
    reset: float | None = None  # seconds until the window refills, when told


def as_int(value: str | None) -> int | None:
    """An integer header value, or None when absent or not a number."""
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _parse_pairs(value: str) -> dict[str, float]:
    """The `total=..; remaining=..; resets=..` pairs of a Zendesk endpoint-limit header."""
    pairs: dict[str, float] = {}
    for part in value.split(";"):
        match = _PAIR.fullmatch(part)
        if match:
            pairs[match.group(1).lower()] = float(match.group(2))
    return pairs


def read_quota(headers: Mapping[str, str]) -> Quota | None:
    """The tightest budget advertised by any known rate-limit header spelling, or None."""
    lower = {k.lower(): v for k, v in headers.items()}
    found: list[Quota] = []
    for limit_key, remaining_key, reset_key in (
        ("x-rate-limit", "x-rate-limit-remaining", None),
        ("rate-limit", "rate-limit-remaining", "rate-limit-reset"),
        ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"),
        ("x-ratelimit-total", "x-ratelimit-remaining", None),
    ):
        limit, remaining = as_int(lower.get(limit_key)), as_int(lower.get(remaining_key))
        if limit and remaining is not None:
            reset = as_int(lower.get(reset_key)) if reset_key else None
            found.append(Quota(remaining, limit, None if reset is None else float(reset)))
    for key, value in lower.items():
        if key.startswith(("zendesk-rate-limit-", "zendesk-ratelimit-")):
            pairs = _parse_pairs(value)
            if pairs.get("total") and "remaining" in pairs:
                found.append(
                    Quota(int(pairs["remaining"]), int(pairs["total"]), pairs.get("resets"))
                )
    if not found:
        return None
    return min(found, key=lambda q: q.remaining / q.limit)
