"""A worker that pauses on purpose keeps its lease; one that is stuck loses it (real PostgreSQL).

The worker is assembled by `build_app` (its connector's idle and response hooks, its shared
budget), its helpdesk is mocked with `responses`, and a second worker tries to take the
connector at the moment the first one's pause is over: a pause twice the lease TTL long.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from esc_sync.app import App, build_app
from esc_sync.connectors.http import HttpClient
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.demo import write_demo_config
from esc_sync.errors import LeaseLost
from esc_sync.state.protocol import StateStore

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
BASE = "https://lease-pauses.zendesk.com"
PATH = "/api/v2/tickets/1.json"
NAME = "sandbox"  # the demo config's connector
TTL = 2  # seconds (durations are whole seconds)
PAUSE = 4.0  # twice the TTL
Open = Callable[..., StateStore]
Answer = Callable[[object], tuple[int, dict[str, str], str]]


@pytest.fixture
def backend() -> str:
    """Leases are a PostgreSQL matter (SQLite state has one worker)."""
    return "postgresql"


@pytest.fixture
def app(tmp_path: Path, state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """Worker "a" on the state, with a lease TTL of `TTL` seconds, holding the connector."""
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", "lease-pauses-token")
    config = write_demo_config(tmp_path, BASE, RULES)
    text = re.sub(r'^state = ".*"$', f'state = "{state_url}"', config.read_text(), flags=re.M)
    worker = f'worker_id = "a"\nlease_ttl = "{TTL}s"\naudit_log'
    config.write_text(text.replace("audit_log", worker, 1))
    built = build_app(config)
    assert built.store.balance([NAME]) == [NAME]
    yield built
    built.close()


def http_of(app: App) -> HttpClient:
    """The HTTP client of the app's (Zendesk) connector."""
    connector = app.connectors[0]
    assert isinstance(connector, ZendeskConnector) and connector.name == NAME
    return connector.client.http


def take_over_when_answered(other: StateStore, seen: list[list[str]]) -> Answer:
    """An answer that first lets `other` balance (what it takes is appended to `seen`)."""

    def answer(request: object) -> tuple[int, dict[str, str], str]:
        seen.append(other.balance([NAME]))
        return 200, {}, "{}"

    return answer


def request_after(http: HttpClient, pause: str, answer: Answer) -> None:
    """One GET that first pauses `PAUSE` seconds on purpose (`429`: Retry-After; `quota`: the
    shared account budget below the read floor), then is answered by `answer`."""
    with responses.RequestsMock() as api:
        if pause == "429":
            api.get(BASE + PATH, status=429, headers={"Retry-After": str(PAUSE)}, json={})
        else:  # 13 of 100 left after the next request: (20 - 13) * 60 / 100 = 4.2 s to wait
            quota = {"X-Rate-Limit": "100", "X-Rate-Limit-Remaining": "14"}
            api.get(BASE + PATH, json={}, headers=quota)
            http.request("GET", PATH)
        api.add_callback(responses.GET, BASE + PATH, callback=answer)
        http.request("GET", PATH)
    if pause == "quota":
        assert [p for p in http.budget.pauses if p[0] == "account-floor" and p[1] > PAUSE]


@pytest.mark.parametrize("pause", ["429", "quota"])
def test_a_worker_pausing_on_purpose_past_the_ttl_keeps_its_lease(
    app: App, open_state: Open, pause: str
) -> None:
    other = open_state("b", lease_ttl=TTL)
    seen: list[list[str]] = []

    request_after(http_of(app), pause, take_over_when_answered(other, seen))

    assert seen == [[]]  # the other worker found the lease alive after the pause
    app.store.set_bookmark(NAME, "c1", NOW)  # and the paused worker's writes still land
    [lease] = app.store.lease_status()
    assert lease["holder"] == "a" and lease["token"] == 1


def test_a_worker_whose_pause_does_not_renew_loses_its_lease(app: App, open_state: Open) -> None:
    # the same connector wired as before idle hooks: only answers keep the lease alive
    plain = ZendeskConnector(app.config.profiles[0], now=lambda: NOW)
    plain.add_response_hook(lambda status, method, path: app.store.keep_alive(NAME))
    other = open_state("b", lease_ttl=TTL)
    seen: list[list[str]] = []

    request_after(plain.client.http, "429", take_over_when_answered(other, seen))

    assert seen == [[NAME]]  # expired during the pause: taken over
    with pytest.raises(LeaseLost):
        app.store.set_bookmark(NAME, "stale", NOW)


def test_a_worker_stuck_in_a_call_still_loses_its_lease(app: App, open_state: Open) -> None:
    other = open_state("b", lease_ttl=TTL)
    seen: list[list[str]] = []
    answer = take_over_when_answered(other, seen)

    def hang(request: object) -> tuple[int, dict[str, str], str]:
        time.sleep(PAUSE)  # no answer for twice the TTL: no pause of the worker's own
        return answer(request)

    with responses.RequestsMock() as api:
        api.add_callback(responses.GET, BASE + PATH, callback=hang)
        http_of(app).request("GET", PATH)

    assert seen == [[NAME]]
    with pytest.raises(LeaseLost):
        app.store.set_bookmark(NAME, "stale", NOW)


def test_on_sqlite_a_pause_renews_nothing_and_breaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", "lease-pauses-token")
    app = build_app(write_demo_config(tmp_path, BASE, RULES))
    try:
        http = http_of(app)
        with responses.RequestsMock() as api:
            api.get(BASE + PATH, status=429, headers={"Retry-After": "1"}, json={})
            api.get(BASE + PATH, json={"ok": True})
            assert http.request("GET", PATH) == {"ok": True}
        app.store.set_bookmark(NAME, "c1", NOW)
        assert app.store.bookmark(NAME) == "c1"
    finally:
        app.close()
