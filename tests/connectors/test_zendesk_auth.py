"""Auth, the factory, and the promise that the token never leaks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses
from structlog.testing import capture_logs

from esc_sync.config import ConnectorProfile
from esc_sync.connectors import build_connector
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.errors import AuthError, ConfigError, HelpdeskError
from esc_sync.model import TicketUpdate
from tests.connectors.zendesk_payloads import BASE, BASIC, TOKEN, incremental_page, load

ME = f"{BASE}/api/v2/users/me.json"


def test_check_auth_uses_email_token_basic_auth_and_remembers_the_bot(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(ME, json={"user": {"id": 19856122753300, "name": "esc-sync", "role": "admin"}})
    zd.check_auth()
    assert api.calls[0].request.headers["Authorization"] == f"Basic {BASIC}"
    assert zd.bot_user_id == 19856122753300


def test_profile_bot_user_overrides_me(
    profile: ConnectorProfile, api: responses.RequestsMock
) -> None:
    api.get(ME, json={"user": {"id": 1, "role": "admin"}})
    zd = ZendeskConnector(profile.model_copy(update={"bot_user_id": 42}))
    zd.check_auth()
    assert zd.bot_user_id == 42


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_auth_error_without_the_token(
    zd: ZendeskConnector, api: responses.RequestsMock, status: int
) -> None:
    api.get(ME, status=status, json={"error": "Couldn't authenticate you"})
    with pytest.raises(AuthError) as err:
        zd.check_auth()
    assert str(err.value) == f"GET /api/v2/users/me.json: HTTP {status} Couldn't authenticate you"
    assert TOKEN not in str(err.value) and BASIC not in str(err.value)


def test_an_anonymous_me_is_an_auth_error(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(ME, json={"user": {"id": None, "name": "Anonymous user", "role": "end-user"}})
    with pytest.raises(AuthError):
        zd.check_auth()


def test_the_token_never_reaches_errors_or_logs(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    export = f"{BASE}/api/v2/incremental/tickets/cursor.json"
    api.get(export, status=503, body=f"upstream said {TOKEN}", content_type="text/plain")
    api.get(export, body=requests.ConnectionError(f"https://x:{TOKEN}@acme/ reset"))
    api.get(
        export,
        status=429,
        json=load("synthetic/zendesk_error_429_incremental.json"),
        headers={"Retry-After": "5"},
    )
    api.get(
        export,
        json=incremental_page(after="c", end=True),
        headers={"x-rate-limit": "700", "x-rate-limit-remaining": "1"},
    )
    api.put(
        f"{BASE}/api/v2/tickets/2.json",
        status=401,
        body=f"Basic {BASIC}",
        content_type="text/plain",
    )
    api.get(ME, status=401, json={"error": "Couldn't authenticate you"})

    errors: list[Exception] = []
    with capture_logs() as logs:
        list(zd.iter_changes(None, datetime(2019, 6, 1, tzinfo=UTC)))
        for action in (
            lambda: zd.apply_update(TicketUpdate(ticket_id=2, version=None, tags=("x",))),
            zd.check_auth,
        ):
            with pytest.raises(HelpdeskError) as err:
                action()
            errors.append(err.value)

    assert {e["event"] for e in logs} >= {"http.retry", "http.quota_pause", "zendesk.page"}
    assert all(e.get("connector") == "acme" for e in logs)
    text = repr(logs) + "".join(repr(e) + str(e) + repr(e.__cause__) for e in errors)
    assert TOKEN not in text
    assert BASIC not in text


def test_build_connector_makes_a_zendesk_connector(profile: ConnectorProfile) -> None:
    connector = build_connector(profile, session=requests.Session(), sleep=lambda s: None)
    assert isinstance(connector, ZendeskConnector)
    assert connector.name == "acme"


def test_build_connector_refuses_unknown_types(profile: ConnectorProfile) -> None:
    with pytest.raises(ConfigError, match="request-tracker"):
        build_connector(profile.model_copy(update={"type": "request-tracker"}))
