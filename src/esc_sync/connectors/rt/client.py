"""Request Tracker 5 REST 2 calls: paths, parameters and auth. Returns decoded JSON bodies.

Auth is an RT auth token in `Authorization: token <token>` (RT 5 core; a bad token is a 401).
Almost every scalar comes back as a string (`"id": "1"`, `"Priority": "30"`); the normaliser
reads both. Collections page with `page`/`per_page` (at most 100); searches over transactions
and attachments answer `total: null`, so a short page is the last one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.http import HttpClient, Sleep

API = "/REST/2.0"
PER_PAGE_MAX = 100
# A per-ticket 400 is RT's "Message could not be recorded" (no such ticket): skip that ticket.
SKIPPABLE = frozenset({400, 403, 404})
# What normalisation needs, fetched inside the search so a feed ticket costs no extra GET.
TICKET_FIELDS = {
    "fields": "Subject,Status,Priority,Queue,Owner,Requestor,Created,LastUpdated,CustomFields",
    "fields[Queue]": "id,Name",
    "fields[Owner]": "id,Name",
    "fields[Requestor]": "id,Name,EmailAddress,RealName,Organization,CustomFields",
}
HISTORY_FIELDS = {
    "fields": "ObjectId,Type,Field,OldValue,NewValue,Created,Creator",
    "fields[Creator]": "id,Name",
}
# `Creator` or `Parent` in an attachment's fields answers 500 on RT 5.0.3: ask for neither.
ATTACHMENT_FIELDS = {"fields": "TransactionId,ContentType,Content"}


class TokenAuth(requests.auth.AuthBase):
    """`Authorization: token <token>` on every request."""

    def __init__(self, token: str) -> None:
        self._header = f"token {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the header (never logged: HttpClient redacts the token from messages)."""
        request.headers["Authorization"] = self._header
        return request


class RTClient:
    """Thin, typed access to the REST 2 endpoints the connector uses."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        secret = profile.token.get_secret_value()
        self.auth = TokenAuth(secret)
        self.http = HttpClient.for_profile(
            profile,
            auth=self.auth,
            secrets=(secret,),
            default_name="rt",
            path=API,
            session=session,
            sleep=sleep,
            skippable=SKIPPABLE,
        )
        self.per_page = min(profile.page_size, PER_PAGE_MAX)

    @property
    def calls(self) -> Counter[str]:
        """Requests made, by "METHOD /path-template"."""
        return self.http.calls

    def header(self, name: str) -> str | None:
        """A header of the last successful response (ETag, Location)."""
        value = self.http.last_headers.get(name)
        return value if isinstance(value, str) else None

    def system(self) -> dict[str, Any]:
        """`GET /rt`: the version; a 401 when the token is refused."""
        return _obj(self.http.request("GET", "/rt"))

    def user(self, name_or_id: str | int) -> dict[str, Any]:
        """One user (`GET /user/{name or id}`), with `Privileged` and `Organization`."""
        return _obj(self.http.request("GET", f"/user/{name_or_id}"))

    def search(self, query: str, page: int, *, order_by: Sequence[str] = ()) -> dict[str, Any]:
        """One page of a TicketSQL search with the fields normalisation needs."""
        params: dict[str, Any] = {
            "query": query,
            "page": page,
            "per_page": self.per_page,
            **TICKET_FIELDS,
        }
        if order_by:
            params["orderby"] = list(order_by)
            params["order"] = ["ASC"] * len(order_by)
        return _obj(self.http.request("GET", "/tickets", params=params))

    def ticket(self, ticket_id: int) -> tuple[dict[str, Any], str | None]:
        """One ticket and its ETag (the id of its latest transaction, quoted).

        Roles come back as bare references here (no `fields[Requestor]` on a single record),
        so reads that normalise use `search`; this is the pre-write check.
        """
        body = self.http.request("GET", f"/ticket/{ticket_id}", ticket_id=ticket_id, scope="ticket")
        return _obj(body), self.header("ETag")

    def transactions(self, ticket_ids: Sequence[int], page: int) -> dict[str, Any]:
        """One page of the transactions of these tickets, oldest first (`POST /transactions`)."""
        query: list[dict[str, Any]] = [{"field": "ObjectType", "value": "RT::Ticket"}]
        query.append(_in("ObjectId", ticket_ids))
        params = {"page": page, "per_page": PER_PAGE_MAX, "orderby": "id", **HISTORY_FIELDS}
        single = ticket_ids[0] if len(ticket_ids) == 1 else None
        body = self.http.request(
            "POST",
            "/transactions",
            params=params,
            json_body=query,
            ticket_id=single,
            scope="ticket" if single is not None else "account",
            idempotent=True,  # a search: safe to repeat
        )
        return _obj(body)

    def attachments(self, transaction_ids: Sequence[int], page: int) -> dict[str, Any]:
        """One page of the attachments (with content) of these transactions."""
        params = {"page": page, "per_page": PER_PAGE_MAX, "orderby": "id", **ATTACHMENT_FIELDS}
        body = self.http.request(
            "POST",
            "/attachments",
            params=params,
            json_body=[_in("TransactionId", transaction_ids)],
            idempotent=True,
        )
        return _obj(body)

    def update_ticket(self, ticket_id: int, body: Mapping[str, Any], etag: str) -> list[Any]:
        """`PUT /ticket/{id}` with `If-Match`; RT answers 200 with a list of messages."""
        result = self.http.request(
            "PUT",
            f"/ticket/{ticket_id}",
            json_body=dict(body),
            ticket_id=ticket_id,
            scope="ticket",
            idempotent=True,  # sets fields; a repeat after it landed meets a 412
            headers={"If-Match": etag},
        )
        return result if isinstance(result, list) else [result]

    def post_message(self, ticket_id: int, kind: str, text: str) -> tuple[list[Any], str | None]:
        """`POST /ticket/{id}/comment` or `/correspond` as plain text; messages and Location."""
        result = self.http.request(
            "POST",
            f"/ticket/{ticket_id}/{kind}",
            json_body={"Content": text, "ContentType": "text/plain"},
            ticket_id=ticket_id,
            scope="ticket",
        )
        return (result if isinstance(result, list) else [result]), self.header("Location")

    def create_ticket(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /ticket`; answers `{"id": "…"}` with a Location."""
        return _obj(self.http.request("POST", "/ticket", json_body=dict(body)))


def _in(field: str, values: Sequence[int]) -> dict[str, Any]:
    """A JSON-search clause: `=` for one value, `IN` for several."""
    if len(values) == 1:
        return {"field": field, "value": values[0]}
    return {"field": field, "operator": "IN", "value": list(values)}


def _obj(body: Any) -> dict[str, Any]:
    """A response body that must be an object (empty when it is not)."""
    return body if isinstance(body, dict) else {}
