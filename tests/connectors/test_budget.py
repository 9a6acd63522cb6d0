"""The per-account rate-limit budget: floors, head-room for writes, one shared 429 pause."""

from __future__ import annotations

import threading

import pytest
import responses
from requests.auth import HTTPBasicAuth

from esc_sync.connectors.budget import Budget
from esc_sync.connectors.http import HttpClient
from esc_sync.errors import RateLimited
from tests.connectors.zendesk_payloads import BASE, TOKEN


class FakeClock:
    """A clock that only moves when someone sleeps on it (thread-safe)."""

    def __init__(self, advance: bool = True) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._advance = advance
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and, if advancing, move time on by it."""
        with self._lock:
            self.sleeps.append(round(seconds, 3))
            if self._advance:
                self.now += seconds


def budget(clock: FakeClock) -> Budget:
    """A budget on the fake clock."""
    return Budget(clock=clock, sleep=clock.sleep)


def zd(remaining: int) -> dict[str, str]:
    """Zendesk account headers with `remaining` of 100 left."""
    return {"x-rate-limit": "100", "x-rate-limit-remaining": str(remaining)}


def test_no_headers_no_pause() -> None:
    clock = FakeClock()
    b = budget(clock)
    assert b.observe({"content-type": "application/json"}) is None
    assert b.wait_turn(write=False) == 0.0
    assert clock.sleeps == []


def test_reads_pause_at_their_floor_while_writes_keep_going() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(zd(15))  # 15 % left: under the 20 % read floor, over the 5 % write floor
    assert b.wait_turn(write=True) == 0.0
    assert clock.sleeps == []
    waited = b.wait_turn(write=False)
    # 20 - 14 (one write spent) = 6 calls short at 100 a minute: 3.6 s
    assert waited == pytest.approx(3.6)
    assert [reason for reason, _ in b.pauses] == ["quota-read"]


def test_writes_pause_only_below_their_own_floor() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(zd(2))
    assert b.wait_turn(write=True) == pytest.approx(1.8)  # 3 short of 5 at 100/min


def test_spending_counts_down_between_reports() -> None:
    clock = FakeClock(advance=False)
    b = budget(clock)
    b.observe(zd(25))
    waits = [b.wait_turn(write=False) for _ in range(7)]
    assert waits[:6] == [0.0] * 6  # 25 down to 20 left: all at or above the floor
    assert waits[6] > 0  # 19 left by our own count, though no new report came


def test_a_fake_clock_that_never_moves_cannot_loop() -> None:
    clock = FakeClock(advance=False)
    b = budget(clock)
    b.observe(zd(1))
    assert b.wait_turn(write=False) > 0
    # the pause was served: the next call goes after its own (smaller or no) pause, no hang
    for _ in range(3):
        b.wait_turn(write=True)
    assert len(clock.sleeps) < 10


def test_reset_header_sets_the_pause_and_elapsed_time_shortens_it() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe({"rate-limit": "400", "rate-limit-remaining": "10", "rate-limit-reset": "20"})
    clock.now += 5
    assert b.wait_turn(write=False) == pytest.approx(15.0)


def test_zendesk_endpoint_budget_spelling_is_read() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(
        {
            "x-rate-limit": "700",
            "x-rate-limit-remaining": "690",
            "zendesk-rate-limit-tickets-index": "total=100; remaining=3; resets=41",
        }
    )
    assert b.wait_turn(write=True) == pytest.approx(41.0)  # the tighter endpoint budget wins


def test_freshdesk_credits_are_read() -> None:
    clock = FakeClock()
    b = budget(clock)
    headers = {
        "X-RateLimit-Total": "200",
        "X-RateLimit-Remaining": "30",
        "X-RateLimit-Used-CurrentRequest": "3",
    }
    quota = b.observe(headers)
    assert quota is not None and (quota.remaining, quota.limit) == (30, 200)
    assert b.wait_turn(write=True) == 0.0
    assert b.wait_turn(write=False) > 0  # 29/200 is under the 20 % read floor


def test_a_fresher_report_replaces_the_estimate() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(zd(1))
    b.observe(zd(99))
    assert b.wait_turn(write=False) == 0.0


def test_one_shared_pause_after_a_429_for_every_thread() -> None:
    clock = FakeClock(advance=False)
    b = budget(clock)
    waits: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        waited = b.wait_turn(write=False)
        with lock:
            waits.append(round(waited, 3))

    b.pause(30.0)
    threads = [threading.Thread(target=caller) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every other thread waits for the same resume time, released a stagger apart: no herd
    assert sorted(waits) == [30.0, 30.1, 30.2, 30.3, 30.4]


def test_the_thread_that_met_the_429_serves_its_pause_once() -> None:
    clock = FakeClock(advance=False)
    b = budget(clock)
    b.pause(7.0)
    b.rest(7.0)  # the retry loop's sleep
    assert b.wait_turn(write=False) == 0.0
    assert clock.sleeps == [7.0]


def test_a_second_429_extends_never_shortens_the_shared_pause() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.pause(30.0)
    b.pause(5.0)
    assert b.resume_at == 1030.0


def test_spending_is_exact_under_concurrency() -> None:
    clock = FakeClock(advance=False)
    b = Budget(clock=clock, sleep=clock.sleep, read_floor=0.0, write_floor=0.0)
    b.observe({"x-rate-limit": "100000", "x-rate-limit-remaining": "100000"})

    def caller() -> None:
        for _ in range(200):
            b.wait_turn(write=False)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b._seen is not None and b._seen.spent == 1600


URL = f"{BASE}/api/v2/tickets/42.json"


def http_client(clock: FakeClock, max_retries: int = 3) -> HttpClient:
    """An HttpClient whose budget runs on the fake clock."""
    return HttpClient(
        base_url=BASE,
        auth=HTTPBasicAuth("bot@acme.example/token", TOKEN),
        timeout=(3.0, 30.0),
        max_retries=max_retries,
        connector="acme",
        sleep=clock.sleep,
        budget=Budget(clock=clock, sleep=clock.sleep),
    )


def test_a_429_holds_every_later_request_of_the_account(api: responses.RequestsMock) -> None:
    clock = FakeClock(advance=False)
    http = http_client(clock, max_retries=0)
    api.get(URL, status=429, headers={"Retry-After": "7"}, json={})
    api.get(f"{BASE}/api/v2/tickets/43.json", json={})
    with pytest.raises(RateLimited):
        http.request("GET", "/api/v2/tickets/42.json")
    http.request("GET", "/api/v2/tickets/43.json")  # another request: waits the shared pause
    assert clock.sleeps == [7.0]


def test_the_retrying_request_does_not_wait_twice(api: responses.RequestsMock) -> None:
    clock = FakeClock(advance=False)
    http = http_client(clock)
    api.get(URL, status=429, headers={"Retry-After": "7"}, json={})
    api.get(URL, json={"ok": True})
    assert http.request("GET", "/api/v2/tickets/42.json") == {"ok": True}
    assert clock.sleeps == [7.0]


def test_headers_of_every_response_feed_the_budget(api: responses.RequestsMock) -> None:
    clock = FakeClock()
    http = http_client(clock)
    api.get(URL, json={}, headers=zd(10))
    api.put(URL, json={}, headers=zd(9))
    api.get(URL, json={})
    http.request("GET", "/api/v2/tickets/42.json")
    http.request("PUT", "/api/v2/tickets/42.json", json_body={})  # 10 % left: writes go on
    assert clock.sleeps == []
    http.request("GET", "/api/v2/tickets/42.json")  # reads wait for the 20 % floor
    assert clock.sleeps == [pytest.approx(6.6)]
