"""Fixtures: a fresh sandbox on a free port and an authenticated client for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from esc_sync.sandbox import BOT_EMAIL, Sandbox
from tests.frozen import frozen_sandbox

TOKEN = "test-token"


class Client:
    """A thin `requests` client for one sandbox: the API with auth, the admin hooks without."""

    def __init__(self, box: Sandbox) -> None:
        """A session authenticated as the bot."""
        self.box = box
        self.session = requests.Session()
        self.session.auth = (f"{BOT_EMAIL}/token", TOKEN)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call /api/v2/<path> as the bot."""
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, f"{self.box.url}/api/v2/{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET /api/v2/<path>."""
        return self.api("GET", path, **kwargs)

    def put_ticket(self, ticket_id: int, ticket: dict[str, Any]) -> requests.Response:
        """PUT /api/v2/tickets/{id}.json."""
        return self.api("PUT", f"tickets/{ticket_id}.json", json={"ticket": ticket})

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call /__sandbox/<path> (no auth)."""
        kwargs.setdefault("timeout", 10)
        return requests.request(method, f"{self.box.url}/__sandbox/{path}", **kwargs)

    def stored(self, ticket_id: int) -> dict[str, Any]:
        """The sandbox's full record of a ticket."""
        got: dict[str, Any] = self.admin("GET", f"tickets/{ticket_id}").json()["ticket"]
        return got


def open_ids(box: Sandbox) -> list[int]:
    """Ids of seeded tickets that are not closed (writable), ascending."""
    return sorted(t.id for t in box.store.tickets.values() if t.status != "closed")


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox with the recent window off and generous limits."""
    with frozen_sandbox(token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


@pytest.fixture()
def client(box: Sandbox) -> Client:
    """A client of the `box` sandbox."""
    return Client(box)
