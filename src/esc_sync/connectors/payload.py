"""Reading vendor payloads defensively: typed fields or a MalformedRecord saying why."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any


class MalformedRecord(ValueError):
    """A payload record that cannot be normalised; the message says why."""


def is_int(value: Any) -> bool:
    """True for a real integer (bools are not ids)."""
    return isinstance(value, int) and not isinstance(value, bool)


def opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    """An optional integer field; anything else is malformed."""
    value = raw.get(key)
    if value is None or is_int(value):
        return value
    raise MalformedRecord(f"{key} is not an integer: {value!r}")


def parse_time(value: Any, key: str = "time") -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime."""
    if not isinstance(value, str):
        raise MalformedRecord(f"{key} is not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedRecord(f"{key} is not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """An aware datetime as both vendors write it: UTC with a trailing Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_value(value: int | str) -> int | str:
    """An id as an int when it is numeric (ids are 64-bit integers; never floats)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def field_value(value: Any) -> Any:
    """A field value as JSON: datetimes in UTC `Z` form, dates as YYYY-MM-DD."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
