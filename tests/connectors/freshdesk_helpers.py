"""Shared bits of the Freshdesk contract tests: the profile, recorded payloads, a connector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.freshdesk import FreshdeskConnector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "freshdesk"
BASE = "https://acme.freshdesk.com"
KEY = "fd-key-5eCr3t"
T1, T2 = 2, 3


def load(name: str) -> Any:
    """A recorded payload, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def profile(**extra: Any) -> ConnectorProfile:
    """A Freshdesk profile with two tiers, deadlines on Freshdesk's own fields, one cf_ field."""
    fields = {
        "escalation_status": "cf_escalation_status",
        "respond_by": "fr_due_by",
        "resolve_by": "due_by",
        "category": "cf_category",
    }
    return ConnectorProfile(
        type="freshdesk",
        base_url=BASE,
        token_env="FD_KEY",
        groups={"t1": T1, "t2": T2},
        fields=extra.pop("fields", fields),
        statuses=extra.pop("statuses", {6: "on_hold"}),
        bot_user_id=extra.pop("bot_user_id", 999),
        page_size=100,
        max_retries=3,
        name="acme-fd",
        token=SecretStr(KEY),
        **extra,
    )


def connector(sleeps: list[float], people: bool = False, **extra: Any) -> FreshdeskConnector:
    """A connector whose sleeps are recorded, not slept; without `people`, contacts and the
    ratings listing are left out (tests of the feed and writes mock only their endpoints)."""
    fd = FreshdeskConnector(profile(**extra), session=requests.Session(), sleep=sleeps.append)
    if not people:
        fd.people.refresh = lambda start: None  # type: ignore[method-assign]
        fd.people.tags_of = lambda contact_id: None  # type: ignore[method-assign]
    return fd


def ticket(tid: int, updated_at: str, **fields: Any) -> dict[str, Any]:
    """A list record built from the recorded list page's first ticket."""
    raw: dict[str, Any] = dict(load("tickets_list_page.json")[0])
    raw.update(id=tid, updated_at=updated_at, **fields)
    return raw
