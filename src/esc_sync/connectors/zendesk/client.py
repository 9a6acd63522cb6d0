"""Zendesk Support API v2 calls: paths, parameters and auth. Returns decoded JSON bodies.

Auth is an API token over HTTP Basic as `{email}/token:{token}`
(developer.zendesk.com/api-reference/introduction/security-and-auth/).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests
from requests.auth import HTTPBasicAuth

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.http import HttpClient, Sleep
from esc_sync.connectors.zendesk.normalize import INCLUDE
from esc_sync.errors import TransientError

COMMENTS_PAGE_SIZE = 100  # the cursor-pagination maximum on most endpoints
SHOW_MANY_MAX = 100
BULK_MAX = 100  # items per update_many / create_many job, ids per job_statuses/show_many
JOB_STATUS_ONE = "GET /api/v2/job_statuses/{id}.json"


class ZendeskClient:
    """Thin, typed access to the endpoints the connector uses."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        secret = profile.token.get_secret_value()
        user = f"{profile.email}/token"
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        self.http = HttpClient.for_profile(
            profile,
            auth=HTTPBasicAuth(user, secret),
            secrets=(secret, basic),
            default_name="zendesk",
            session=session,
            sleep=sleep,
        )
        self.page_size = profile.page_size

    @property
    def calls(self) -> Counter[str]:
        """Requests made, by "METHOD /path-template"."""
        return self.http.calls

    def me(self) -> dict[str, Any]:
        """The authenticated user (`GET /api/v2/users/me.json`)."""
        body = self.http.request("GET", "/api/v2/users/me.json")
        return _member(body, "user")

    def incremental_tickets(self, *, cursor: str | None, start_time: int | None) -> dict[str, Any]:
        """One page of the cursor-based incremental ticket export."""
        params: dict[str, Any] = {"include": INCLUDE, "per_page": self.page_size}
        if cursor is None:
            params["start_time"] = start_time
        else:
            params["cursor"] = cursor
        body = self.http.request("GET", "/api/v2/incremental/tickets/cursor.json", params=params)
        return body if isinstance(body, dict) else {}

    def ticket_events(self, start_time: int) -> dict[str, Any]:
        """One page of the ticket-event export with comment text (`include=comment_events`)."""
        body = self.http.request(
            "GET",
            "/api/v2/incremental/ticket_events.json",
            params={"start_time": start_time, "include": "comment_events"},
        )
        return body if isinstance(body, dict) else {}

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """One ticket with its side-loads (`{"ticket": ..., "users": ...}`)."""
        body = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}.json",
            params={"include": INCLUDE},
            ticket_id=ticket_id,
            scope="ticket",
        )
        return body if isinstance(body, dict) else {}

    def show_many(self, ticket_ids: list[int]) -> dict[str, Any]:
        """Up to 100 tickets in one call, with side-loads (missing ids are simply absent)."""
        body = self.http.request(
            "GET",
            "/api/v2/tickets/show_many.json",
            params={"ids": ",".join(str(i) for i in ticket_ids), "include": INCLUDE},
        )
        return body if isinstance(body, dict) else {}

    def comments_page(self, ticket_id: int, after: Mapping[str, Any] | None) -> dict[str, Any]:
        """One cursor page of a ticket's comments with their authors side-loaded."""
        params: dict[str, Any] = {"include": "users", "page[size]": COMMENTS_PAGE_SIZE}
        if after:
            params.update(after)
        body = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/comments.json",
            params=params,
            ticket_id=ticket_id,
            scope="ticket",
        )
        return body if isinstance(body, dict) else {}

    def update_ticket(
        self, ticket_id: int, body: dict[str, Any], *, idempotent: bool
    ) -> dict[str, Any]:
        """`PUT /api/v2/tickets/{id}.json`; returns the response body."""
        result = self.http.request(
            "PUT",
            f"/api/v2/tickets/{ticket_id}.json",
            json_body=body,
            ticket_id=ticket_id,
            scope="ticket",
            idempotent=idempotent,
        )
        return result if isinstance(result, dict) else {}

    def tickets_by_external_id(self, external_id: str) -> dict[str, Any]:
        """`GET /api/v2/tickets.json?external_id=...` (requests URL-encodes the value)."""
        body = self.http.request("GET", "/api/v2/tickets.json", params={"external_id": external_id})
        return body if isinstance(body, dict) else {}

    def create_ticket(
        self, body: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """`POST /api/v2/tickets.json`; returns the response body.

        With an `Idempotency-Key` (helpdesk-apis.md: a repeat of the same key and body answers
        the first result) the request is safe to repeat after a 5xx, a timeout or a lost answer.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result = self.http.request(
            "POST",
            "/api/v2/tickets.json",
            json_body=body,
            headers=headers,
            idempotent=idempotency_key is not None,
        )
        return result if isinstance(result, dict) else {}

    def update_many(self, tickets: list[dict[str, Any]]) -> dict[str, Any]:
        """`PUT /api/v2/tickets/update_many.json` with a `tickets` array; the `job_status`.

        Not repeated after an ambiguous failure (timeout, reset, 5xx: the job may exist), only
        after a refusal (429, 503, no connection), when nothing was accepted.
        """
        body = self.http.request(
            "PUT",
            "/api/v2/tickets/update_many.json",
            json_body={"tickets": tickets},
            idempotent=False,
        )
        return _member(body, "job_status")

    def create_many(self, tickets: list[dict[str, Any]]) -> dict[str, Any]:
        """`POST /api/v2/tickets/create_many.json`; the `job_status` (repeated like update_many)."""
        body = self.http.request(
            "POST",
            "/api/v2/tickets/create_many.json",
            json_body={"tickets": tickets},
            idempotent=False,
        )
        return _member(body, "job_status")

    def job_statuses(self, job_ids: list[str]) -> list[Any]:
        """`GET /api/v2/job_statuses/show_many.json?ids=...` (at most 100 ids): the statuses."""
        body = self.http.request(
            "GET", "/api/v2/job_statuses/show_many.json", params={"ids": ",".join(job_ids)}
        )
        statuses = body.get("job_statuses") if isinstance(body, dict) else None
        if not isinstance(statuses, list):
            # Not "every job vanished": an answer without the list says nothing about them.
            raise TransientError("GET /api/v2/job_statuses/show_many.json: malformed answer")
        return statuses

    def recent_jobs(self) -> list[Any]:
        """`GET /api/v2/job_statuses.json`: the account's most recent job statuses (one page)."""
        body = self.http.request("GET", "/api/v2/job_statuses.json", params={"page[size]": 100})
        statuses = body.get("job_statuses") if isinstance(body, dict) else None
        if not isinstance(statuses, list):
            raise TransientError("GET /api/v2/job_statuses.json: malformed answer")
        return statuses

    def job_status(self, job_id: str) -> dict[str, Any]:
        """`GET /api/v2/job_statuses/{id}.json`: one job's status (404 once it is gone).

        Counted as `GET /api/v2/job_statuses/{id}.json`: job ids are not numeric, so the shared
        path template would otherwise count every job under its own name.
        """
        path = f"/api/v2/job_statuses/{quote(job_id, safe='')}.json"
        try:
            body = self.http.request("GET", path)
        finally:
            spent = self.http.calls.pop(f"GET {path}", 0)
            if spent:
                self.http.calls[JOB_STATUS_ONE] += spent
        return _member(body, "job_status")


def _member(body: Any, key: str) -> dict[str, Any]:
    """A top-level object of a response body, empty when absent."""
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else {}


def next_comments_params(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parameters of the next comments page, or None on the last page."""
    meta = _member(body, "meta")
    links = _member(body, "links")
    if not meta.get("has_more"):
        return None
    cursor = meta.get("after_cursor")
    if isinstance(cursor, str) and cursor:
        return {"page[after]": cursor}
    next_url = links.get("next")
    if isinstance(next_url, str) and next_url:
        query = parse_qs(urlsplit(next_url).query)
        if "page[after]" in query:
            return {"page[after]": query["page[after]"][0]}
    return {}
