"""Zendesk's error bodies as the sandbox answers them, and the exception that carries them.

The bodies are copied from real traffic (see /work/shared/fixtures and the contract notes, §A8),
so a connector that parses them against the sandbox parses them against Zendesk.
"""

from __future__ import annotations

from typing import Any

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
INVALID_ENDPOINT = {"error": "InvalidEndpoint", "description": "Not found"}
UNAUTHENTICATED = {"error": "Couldn't authenticate you"}
CLOSED_TICKET = {
    "error": "RecordInvalid",
    "description": "Record validation errors",
    "details": {"status": [{"description": "Status closed prevents ticket update"}]},
}
UPDATE_CONFLICT = {
    "error": "UpdateConflict",
    "description": "Safe Update prevented the update due to outdated ticket data. "
    "Please fetch the latest ticket data and try again.",
}
TOO_MANY_VALUES = {
    "error": "TooManyValues",
    "description": "Parameter  cannot specify more than 100 values",
    "max_count": 100,
}
TOO_RECENT_START = {
    "error": "InvalidValue",
    "description": "Too recent start_time. Use a start_time older than 5 minutes",
}
INCREMENTAL_LIMIT = {
    "error": "APIRateLimitExceeded",
    "description": "Number of allowed incremental export API requests per minute exceeded",
}
ACCOUNT_LIMIT = {
    "error": "APIRateLimitExceeded",
    "description": "Number of allowed API requests per minute exceeded",
}
UPDATE_LIMIT = {
    "error": "APIRateLimitExceeded",
    "description": "Number of allowed ticket update API requests per minute exceeded",
}

TOO_MANY_JOBS = {
    "error": "TooManyJobs",
    "description": "Too many background jobs are queued or running for this account. "
    "Try again later.",
}


class ApiError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ApiError:
    """404 RecordNotFound."""
    return ApiError(404, NOT_FOUND)


def invalid_value(description: str) -> ApiError:
    """400 InvalidValue for a bad query parameter."""
    return ApiError(400, {"error": "InvalidValue", "description": description})


def record_invalid(field: str, description: str, code: str = "InvalidValue") -> ApiError:
    """422 RecordInvalid naming one field, the shape Zendesk uses for validation errors."""
    details = {field: [{"description": description, "error": code}]}
    body = {"error": "RecordInvalid", "description": "Record validation errors", "details": details}
    return ApiError(422, body)


def invalid_json(message: str) -> ApiError:
    """400 with the object-shaped error Zendesk uses for unparseable input."""
    return ApiError(400, {"error": {"title": "Invalid attribute", "message": message}})
