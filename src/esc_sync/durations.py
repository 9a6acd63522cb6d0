"""Durations as admins write them: "45s", "15m", "4h", "2d", "1d4h"."""

from __future__ import annotations

import re
from datetime import timedelta

_PATTERN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """Parse a duration string; raise ValueError with the accepted forms when it is not one."""
    value = text.strip() if isinstance(text, str) else text
    match = _PATTERN.match(value) if isinstance(value, str) else None
    if not isinstance(value, str) or not value or match is None:
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit s, m, h or d, "
            'combined largest first (e.g. "45s", "15m", "4h", "2d", "1d4h")'
        )
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta in the same notation ("1d4h", "15m", "0s")."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")
