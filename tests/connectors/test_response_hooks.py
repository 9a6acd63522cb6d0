"""Every connector offers response hooks; metrics count 429s through `run`'s connector wrapper."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import ObservableConnector
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.metrics import watch_rate_limits
from esc_sync.progress import ObservedConnector
from tests.connectors import freshdesk_helpers, rt_payloads
from tests.connectors.zendesk_payloads import BASE, EMAIL, TOKEN


def zendesk(sleeps: list[float]) -> ZendeskConnector:
    """A Zendesk connector whose sleeps are recorded, not slept."""
    profile = ConnectorProfile(
        type="zendesk",
        base_url=BASE,
        email=EMAIL,
        token_env="ZENDESK_TOKEN",
        max_retries=3,
        name="acme",
        token=SecretStr(TOKEN),
    )
    return ZendeskConnector(profile, sleep=sleeps.append)


MAKERS: dict[str, Callable[[list[float]], Any]] = {
    "zendesk": zendesk,
    "freshdesk": freshdesk_helpers.connector,
    "rt": rt_payloads.connector,
}


@pytest.mark.parametrize("vendor", sorted(MAKERS))
def test_a_429_hook_set_through_the_run_wrapper_hears_the_real_client(vendor: str) -> None:
    connector = MAKERS[vendor]([])
    assert isinstance(connector, ObservableConnector)
    counted: list[int] = []

    assert watch_rate_limits(ObservedConnector(connector), lambda: counted.append(429))

    http = connector.client.http
    with responses.RequestsMock() as api:
        api.get(f"{http.base_url}/probe", status=429, headers={"Retry-After": "1"})
        api.get(f"{http.base_url}/probe", status=429, headers={"Retry-After": "1"})
        api.get(f"{http.base_url}/probe", json={})
        http.request("GET", "/probe")
    assert counted == [429, 429]


def test_a_connector_without_hooks_is_not_watched() -> None:
    class Plain:
        name, profile, calls = "plain", None, Counter[str]()

    assert not watch_rate_limits(Plain(), lambda: None)  # type: ignore[arg-type]
    assert not watch_rate_limits(ObservedConnector(Plain()), lambda: None)  # type: ignore[arg-type]
