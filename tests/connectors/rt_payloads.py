"""RT payloads captured from a real RT 5.0.3 (tests/fixtures/rt/), a profile and a connector.

Tests replay the captured bodies as RT sent them; scenarios that need other ids or seconds
copy a captured record and change only those keys (`item`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.rt import RTConnector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rt"
BASE = "http://rt.example.test"
API = BASE + "/REST/2.0"
TOKEN = "1-33-0123456789abcdef0123456789abcdef"  # shaped like an RT auth token; not real
CAPTURED_TICKET = 7  # the story's ticket in the captured payloads
AGENT_ID = 29  # agent1
CUSTOMER_ID = 63  # alice@acme.test
BOT_ID = 33  # escalation-bot


def load(name: str) -> Any:
    """A captured body, decoded."""
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> bytes:
    """A captured body, byte for byte."""
    return (FIXTURES / name).read_bytes()


def manifest(name: str) -> dict[str, Any]:
    """What the capture sent and got for a fixture (method, path, status, headers)."""
    entry: dict[str, Any] = load("MANIFEST.json")[name]
    return entry


def item(**changes: Any) -> dict[str, Any]:
    """The captured feed ticket with some keys changed (id, LastUpdated, Status...)."""
    record: dict[str, Any] = copy.deepcopy(load("tickets_search_page.json")["items"][0])
    record.update(changes)
    return record


def page(items: list[dict[str, Any]], *, page_no: int = 1, per_page: int = 100) -> dict[str, Any]:
    """A search page in RT's envelope around these items."""
    return {
        "count": len(items),
        "page": page_no,
        "per_page": per_page,
        "pages": None,
        "total": None,
        "items": items,
    }


def params(call: Any) -> dict[str, list[str]]:
    """The query parameters of a recorded call."""
    return parse_qs(urlsplit(call.request.url).query)


def profile(**overrides: Any) -> ConnectorProfile:
    """The example profile's mapping, pointed at the mocked RT."""
    values: dict[str, Any] = {
        "type": "rt",
        "base_url": BASE,
        "email": "escalation-bot",
        "token_env": "ESC_SYNC_RT_TOKEN",
        "groups": {f"t{n}": f"Support T{n}" for n in range(1, 5)},
        "fields": {
            "escalation_status": "Escalation Status",
            "respond_by": "Respond By",
            "resolve_by": "Resolve By",
            "tags": "Tags",
            "task_id": "Task Id",
            "satisfaction": "Satisfaction",
            "organization_tags": "Customer Tags",
            "refund_amount": "Refund Amount",
        },
        "priorities": {"low": 0, "normal": 25, "high": 50, "urgent": 75},
        "page_size": 100,
        "max_retries": 2,
        "name": "rt",
        "token": SecretStr(TOKEN),
    }
    values.update(overrides)
    return ConnectorProfile(**values)


def connector(
    sleeps: list[float] | None = None, *, zone_checked: bool = True, **overrides: Any
) -> RTConnector:
    """A connector on the mocked RT whose sleeps are recorded, not slept.

    The one-off time-zone probe of the feed is marked done unless a test asks for it.
    """
    pauses = sleeps if sleeps is not None else []
    rt = RTConnector(profile(**overrides), sleep=pauses.append)
    rt.zone_checked = zone_checked
    return rt
