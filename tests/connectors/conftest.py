"""Fixtures of the connector tests: a profile, a mocked Zendesk, a recorded sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.zendesk import ZendeskConnector
from tests.connectors.zendesk_payloads import (
    BASE,
    EMAIL,
    PLAN_FIELD,
    TIER1_GROUP,
    TIER2_GROUP,
    TOKEN,
)


@pytest.fixture
def profile() -> ConnectorProfile:
    """A Zendesk profile with two tiers and a few custom fields."""
    return ConnectorProfile(
        type="zendesk",
        base_url=BASE,
        email=EMAIL,
        token_env="ZENDESK_TOKEN",
        groups={"tier1": TIER1_GROUP, "tier2": TIER2_GROUP},
        fields={
            "plan": str(PLAN_FIELD),
            "region": 360000000123,
            "escalation_status": 360000000201,
            "respond_by": 360000000202,
        },
        timeout=(3.0, 30.0),
        page_size=500,
        max_retries=3,
        name="acme",
        token=SecretStr(TOKEN),
    )


@pytest.fixture
def sleeps() -> list[float]:
    """Every pause the connector asked for (nothing really sleeps)."""
    return []


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """A mocked Zendesk: unmatched requests fail the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def zd(
    profile: ConnectorProfile, sleeps: list[float], api: responses.RequestsMock
) -> ZendeskConnector:
    """The connector under test, its sleep recorded instead of taken."""
    return ZendeskConnector(profile, sleep=sleeps.append)
