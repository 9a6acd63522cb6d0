"""Freshdesk API v2 calls: paths, parameters and auth. Returns decoded JSON bodies.

Auth is the API key over HTTP Basic with the password `X` (§B1). Bodies are flat, lists are
bare arrays, and list pagination is the `Link: <…>; rel="next"` header (absent on the last page).
"""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.auth import HTTPBasicAuth

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.http import HttpClient, Sleep

PER_PAGE_MAX = 100
LIST_INCLUDE = "description,requester,stats"  # each include costs extra credits (§B3.1)
SHOW_INCLUDE = "requester,stats"
# 400 is Freshdesk's "Validation failed": on a per-ticket call, that ticket is skipped.
SKIPPABLE = frozenset({400, 403, 404, 422})
_NEXT = re.compile(r"<([^>]*)>\s*;[^,]*rel\s*=\s*\"?next\b", re.IGNORECASE)


def next_page(link_header: str | None) -> int | None:
    """The page number of the `rel="next"` link, or None when there is no next page."""
    if not link_header:
        return None
    found = _NEXT.search(link_header)
    if found is None:
        return None
    pages = parse_qs(urlsplit(found.group(1)).query).get("page")
    try:
        return int(pages[0]) if pages else -1
    except ValueError:
        return -1  # a next link we cannot follow: the caller treats it as a stall


class FreshdeskClient:
    """Thin, typed access to the endpoints the connector uses."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        secret = profile.token.get_secret_value()
        basic = base64.b64encode(f"{secret}:X".encode()).decode()
        self.http = HttpClient.for_profile(
            profile,
            auth=HTTPBasicAuth(secret, "X"),
            secrets=(secret, basic),
            default_name="freshdesk",
            session=session,
            sleep=sleep,
            skippable=SKIPPABLE,
        )
        self.per_page = min(profile.page_size, PER_PAGE_MAX)

    @property
    def calls(self) -> Counter[str]:
        """Requests made, by "METHOD /path-template"."""
        return self.http.calls

    def me(self) -> dict[str, Any]:
        """The agent the API key belongs to (`GET /api/v2/agents/me`)."""
        return _obj(self.http.request("GET", "/api/v2/agents/me"))

    def list_tickets(self, updated_since: str, page: int) -> tuple[list[Any] | None, int | None]:
        """One page of tickets changed since `updated_since`, oldest change first; next page."""
        params = {
            "updated_since": updated_since,
            "order_by": "updated_at",
            "order_type": "asc",
            "per_page": self.per_page,
            "include": LIST_INCLUDE,
            "page": page,
        }
        body = self.http.request("GET", "/api/v2/tickets", params=params)
        link = self.http.last_headers.get("Link")
        return (body if isinstance(body, list) else None), next_page(link)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """One ticket with its requester and stats."""
        body = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}",
            params={"include": SHOW_INCLUDE},
            ticket_id=ticket_id,
            scope="ticket",
        )
        return _obj(body)

    def company(self, company_id: int) -> dict[str, Any]:
        """One company (`GET /api/v2/companies/{id}`)."""
        return _obj(self.http.request("GET", f"/api/v2/companies/{company_id}"))

    def conversations(self, ticket_id: int, page: int) -> tuple[list[Any] | None, int | None]:
        """One page of a ticket's conversations (replies and notes) and the next page number."""
        body = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/conversations",
            params={"per_page": PER_PAGE_MAX, "page": page},
            ticket_id=ticket_id,
            scope="ticket",
        )
        link = self.http.last_headers.get("Link")
        return (body if isinstance(body, list) else None), next_page(link)

    def satisfaction_ratings(self, ticket_id: int) -> list[Any]:
        """The ticket's satisfaction ratings (`GET /api/v2/tickets/{id}/satisfaction_ratings`)."""
        body = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/satisfaction_ratings",
            ticket_id=ticket_id,
            scope="ticket",
        )
        return body if isinstance(body, list) else []

    def contact(self, contact_id: int) -> dict[str, Any]:
        """One contact, with its `tags` (`GET /api/v2/contacts/{id}`)."""
        body = self.http.request("GET", f"/api/v2/contacts/{contact_id}", scope="ticket")
        return _obj(body)

    def list_contacts(self, updated_since: str, page: int) -> tuple[list[Any] | None, int | None]:
        """One page of contacts updated since then (`_updated_since`) and the next page."""
        params = {"_updated_since": updated_since, "per_page": PER_PAGE_MAX, "page": page}
        body = self.http.request("GET", "/api/v2/contacts", params=params)
        link = self.http.last_headers.get("Link")
        return (body if isinstance(body, list) else None), next_page(link)

    def list_ratings(self, created_since: str, page: int) -> tuple[list[Any] | None, int | None]:
        """One page of the account's satisfaction ratings created since then, and the next."""
        params = {"created_since": created_since, "per_page": PER_PAGE_MAX, "page": page}
        # scope "ticket": a 403 (no surveys on the plan) is skippable, not an auth failure
        path = "/api/v2/surveys/satisfaction_ratings"
        body = self.http.request("GET", path, params=params, scope="ticket")
        link = self.http.last_headers.get("Link")
        return (body if isinstance(body, list) else None), next_page(link)

    def associated_tickets(self, ticket_id: int) -> Any:
        """The parent's associated (child) tickets, as the API answers them."""
        return self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/associated_tickets",
            ticket_id=ticket_id,
            scope="ticket",
        )

    def update_ticket(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """`PUT /api/v2/tickets/{id}` (idempotent: it sets fields, it adds nothing)."""
        result = self.http.request(
            "PUT",
            f"/api/v2/tickets/{ticket_id}",
            json_body=body,
            ticket_id=ticket_id,
            scope="ticket",
            idempotent=True,
        )
        return _obj(result)

    def add_note(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /api/v2/tickets/{id}/notes`."""
        result = self.http.request(
            "POST",
            f"/api/v2/tickets/{ticket_id}/notes",
            json_body=body,
            ticket_id=ticket_id,
            scope="ticket",
        )
        return _obj(result)

    def reply(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /api/v2/tickets/{id}/reply`."""
        result = self.http.request(
            "POST",
            f"/api/v2/tickets/{ticket_id}/reply",
            json_body=body,
            ticket_id=ticket_id,
            scope="ticket",
        )
        return _obj(result)

    def create_ticket(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /api/v2/tickets`."""
        return _obj(self.http.request("POST", "/api/v2/tickets", json_body=body))


def _obj(body: Any) -> dict[str, Any]:
    """A response body that must be an object (empty when it is not)."""
    return body if isinstance(body, dict) else {}
