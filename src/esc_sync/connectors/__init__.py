"""Connectors: the only code that speaks HTTP to a helpdesk."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import requests

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import Connector
from esc_sync.errors import ConfigError


def build_connector(
    profile: ConnectorProfile,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] | None = None,
) -> Connector:
    """The connector for a profile's helpdesk type (`now`: the worker's clock, by default the
    system's; only Zendesk's comment export reads it, to bound its scan)."""
    if profile.type == "zendesk":
        from esc_sync.connectors.zendesk import ZendeskConnector

        if now is None:
            return ZendeskConnector(profile, session=session, sleep=sleep)
        return ZendeskConnector(profile, session=session, sleep=sleep, now=now)
    if profile.type == "freshdesk":
        from esc_sync.connectors.freshdesk import FreshdeskConnector

        return FreshdeskConnector(profile, session=session, sleep=sleep)
    if profile.type == "rt":
        from esc_sync.connectors.rt import RTConnector

        return RTConnector(profile, session=session, sleep=sleep)
    raise ConfigError(
        f"{profile.path or profile.name}: type: no {profile.type} connector is available yet"
    )


__all__ = ["Connector", "build_connector"]
