"""The request and reply values passed between the HTTP server and the endpoint handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from esc_sync.sandbox.errors import invalid_json, invalid_value

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(slots=True)
class Request:
    """One HTTP request, already split into path and query."""

    method: str
    path: str
    raw_query: str = ""
    query: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: Any = None  # a job fault the gateway hands to a bulk submission's handler

    def json(self) -> Any:
        """The body parsed as JSON (400 with an object-shaped error when it is not)."""
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid_json(f"The request body is not valid JSON: {exc}") from exc

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter clamped to [low, high]; None-like values use the default."""
        raw = self.query.get(name)
        if raw in (None, ""):
            return default
        try:
            return max(low, min(high, int(str(raw))))
        except ValueError:
            raise invalid_value(f"{name} must be an integer") from None


@dataclass(slots=True)
class Reply:
    """What to answer: a status, a JSON body (or raw bytes), headers; or drop the connection."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    raw: bytes | None = None
    drop_after: float | None = None  # seconds to hold the connection, then close unanswered

    def payload(self) -> bytes:
        """The body bytes to send."""
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")
