"""Zendesk payloads for the connector tests: recorded fixtures and pages built from them."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "zendesk"
BASE = "https://acme.zendesk.com"
TOKEN = "tok-SECRET-5e3a9b7c1d2f"  # recognisable, so a leak is easy to spot
EMAIL = "bot@acme.example"
BASIC = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
PLAN_FIELD = 9007199254740993  # 2**53 + 1: survives only as an int, never as a float
TIER1_GROUP = 360004077472  # the group of the recorded ticket
TIER2_GROUP = 360004077999


def load(name: str) -> Any:
    """A JSON fixture of tests/fixtures/zendesk (synthetic/ for hand-built ones)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def read_text(name: str) -> str:
    """A raw fixture file."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def incremental_page(
    *tickets: dict[str, Any], after: str, end: bool, sideloads: bool = True
) -> dict[str, Any]:
    """A cursor export page built from the synthetic template, with side-loads."""
    page = load("synthetic/zendesk_incremental_tickets_cursor_page.json")
    if tickets:
        page["tickets"] = list(tickets)
    page["after_cursor"] = after
    page["after_url"] = f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor={after}"
    page["end_of_stream"] = end
    if sideloads:
        page.update(load("synthetic/incremental_sideloads.json"))
    return page


def template_ticket(**changes: Any) -> dict[str, Any]:
    """The template's ticket (a real recorded one plus generated_timestamp) with changes."""
    ticket = copy.deepcopy(
        load("synthetic/zendesk_incremental_tickets_cursor_page.json")["tickets"][0]
    )
    ticket.update(changes)
    return ticket


def sent_json(call: Any) -> Any:
    """The decoded JSON body of a recorded request."""
    return json.loads(call.request.body)
