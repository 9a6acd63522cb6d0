"""Idle hooks: a client pausing on purpose (429, quota, shared account pause) says so every
`every` seconds, so the worker keeps its lease through a pause longer than the lease TTL."""

from __future__ import annotations

import math

import pytest
import responses
from requests.auth import HTTPBasicAuth

from esc_sync.clock import wait_alive
from esc_sync.connectors.budget import Budget
from esc_sync.connectors.http import HttpClient
from tests.connectors import freshdesk_helpers
from tests.connectors.test_budget import FakeClock, zd
from tests.connectors.zendesk_payloads import BASE, TOKEN

PATH = "/api/v2/tickets/42.json"
TTL = 3.0  # the lease TTL: the worker renews at least every third of it


class Account:
    """Another worker's view of the shared account: a 429 pause of `resume_in` seconds."""

    def __init__(self, resume_in: float) -> None:
        self.resume_in = resume_in

    def spend(self, account: str) -> tuple[int | None, int | None, float]:
        """Nothing known of the quota; the pause runs for `resume_in` more seconds once."""
        resume_in, self.resume_in = self.resume_in, 0.0
        return None, None, resume_in

    def report(self, account: str, remaining: int, limit: int) -> None:
        """Not needed here."""

    def hold(self, account: str, seconds: float) -> None:
        """Not needed here."""


def client(clock: FakeClock) -> HttpClient:
    """An HttpClient whose budget runs on the fake clock and pauses through the client."""
    http = HttpClient(
        base_url=BASE,
        auth=HTTPBasicAuth("bot@acme.example/token", TOKEN),
        timeout=(3.0, 30.0),
        max_retries=3,
        connector="acme",
        sleep=clock.sleep,
    )
    http.budget = Budget(clock=clock, sleep=http.pause, name="acme")
    return http


def beats_of(http: HttpClient, clock: FakeClock) -> list[float]:
    """The fake instants at which the idle hook is told (renewing every third of the TTL)."""
    beats: list[float] = []
    http.add_idle_hook(lambda: beats.append(clock.now), every=TTL / 3)
    return beats


def assert_told_every_second(beats: list[float], start: float, end: float) -> None:
    """Beats at least every second of fake time from `start`, the last one at `end`."""
    assert beats, "the idle hook was never told"
    gaps = [b - a for a, b in zip([start, *beats], beats, strict=False)]
    assert max(gaps) <= 1.0 + 1e-9, gaps
    assert beats[-1] == pytest.approx(end)


@pytest.mark.parametrize("pause", ["429", "quota", "account"])
def test_a_10_s_pause_tells_the_idle_hook_every_second_with_a_3_s_ttl(
    api: responses.RequestsMock, pause: str
) -> None:
    clock = FakeClock()
    http = client(clock)
    beats = beats_of(http, clock)
    url = BASE + PATH
    if pause == "429":
        api.get(url, status=429, headers={"Retry-After": "10"}, json={})
    elif pause == "quota":  # 4 left of 100: the next read waits (20 - 4) * 60 / 100 = 9.6 s
        api.get(url, json={}, headers=zd(4))
    else:
        http.budget.share(Account(resume_in=10.0), "acme")  # another worker met a 429
    api.get(url, json={"ok": True})
    start = clock.now
    if pause == "quota":
        http.request("GET", PATH)
        start = clock.now

    assert http.request("GET", PATH) == {"ok": True}

    assert sum(clock.sleeps) >= 9.5 and max(clock.sleeps) <= 1.0
    assert_told_every_second(beats, start, clock.now)


def test_without_an_idle_hook_a_pause_is_one_plain_sleep(api: responses.RequestsMock) -> None:
    clock = FakeClock()
    http = client(clock)
    api.get(BASE + PATH, status=429, headers={"Retry-After": "10"}, json={})
    api.get(BASE + PATH, json={})
    http.request("GET", PATH)
    assert clock.sleeps == [10.0]


def test_a_hung_request_is_no_pause(api: responses.RequestsMock) -> None:
    clock = FakeClock()
    http = client(clock)
    beats = beats_of(http, clock)

    def hang(request: object) -> tuple[int, dict[str, str], str]:
        clock.now += 10.0  # the answer takes 10 s: no idle hook runs meanwhile
        return 200, {}, "{}"

    api.add_callback(responses.GET, BASE + PATH, callback=hang)
    http.request("GET", PATH)
    assert beats == []


def test_the_freshdesk_contact_listing_pacing_is_a_pause_too() -> None:
    sleeps: list[float] = []
    fd = freshdesk_helpers.connector(sleeps, people=True)
    beats: list[None] = []
    fd.add_idle_hook(lambda: beats.append(None), every=1.0)
    fd.people.clock = lambda: 100.0  # two listing pages "at once": the second waits 60/20 s
    fd.people._last_list = 100.0
    with responses.RequestsMock() as api:
        api.get(f"{freshdesk_helpers.BASE}/api/v2/contacts", json=[])
        fd.people._paced_contacts("2026-03-01T00:00:00Z", 1)
    assert sleeps == [1.0, 1.0, 1.0] and len(beats) == 3


@pytest.mark.parametrize(
    ("seconds", "every", "slices"),
    [(10.0, 1.0, [1.0] * 10), (1.0, 0.4, [1 / 3] * 3), (0.5, 1.0, [0.5]), (7.0, math.inf, [7.0])],
)
def test_wait_alive_sleeps_in_equal_slices_and_beats_after_each(
    seconds: float, every: float, slices: list[float]
) -> None:
    slept: list[float] = []
    events: list[str] = []

    def sleep(step: float) -> None:
        slept.append(step)
        events.append("sleep")

    wait_alive(sleep, seconds, every, lambda: events.append("beat"))
    assert slept == pytest.approx(slices)
    assert events == ["sleep", "beat"] * len(slices)  # the last beat just before returning
