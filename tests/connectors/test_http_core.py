"""The shared HTTP core: Retry-After, quota headers, classification, retries, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses
from requests.auth import HTTPBasicAuth

from esc_sync.connectors.http import HttpClient, Quota, parse_retry_after, path_template, read_quota
from esc_sync.errors import (
    AuthError,
    ConflictError,
    HelpdeskError,
    RateLimited,
    SkippableError,
    TransientError,
)
from tests.connectors.zendesk_payloads import BASE, TOKEN, load, read_text

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("93.0", 93.0),
        (" 12 ", 12.0),
        ("0", 1.0),  # clamped up: never hammer
        ("-5", 1.0),
        ("86400", 900.0),  # clamped down: a day-long pause is a bug upstream
        ("Fri, 01 Mar 2024 12:00:30 GMT", 30.0),
        ("Fri, 01 Mar 2024 11:00:00 GMT", 1.0),  # already past
        ("soon", None),
        ("nan", None),
        ("<html>busy</html>", None),
        ("inf", None),
        ("-inf", None),
        ("1e999", None),
        ("12abc", None),
        ("   ", None),
        ("Fri, 01 Mar 2024 12:00:45", 45.0),  # HTTP-date without a zone: read as UTC
        ("Friday, 32 Foo 2024 99:00:00 GMT", None),
        ("2.5", 2.5),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "695"}, Quota(695, 700)),
        (
            {"rate-limit": "400", "rate-limit-remaining": "12", "rate-limit-reset": "20"},
            Quota(12, 400, 20.0),
        ),
        ({"ratelimit-limit": "400", "ratelimit-remaining": "300"}, Quota(300, 400)),
        (
            {
                "x-rate-limit": "700",
                "x-rate-limit-remaining": "699",
                "zendesk-rate-limit-tickets-index": "total=100; remaining=3; resets=41",
            },
            Quota(3, 100, 41.0),
        ),
        ({"x-rate-limit": "lots", "x-rate-limit-remaining": "1"}, None),
        ({"zendesk-ratelimit-incremental-exports": "garbage"}, None),
    ],
)
def test_quota_headers_read_defensively(headers: dict[str, str], expected: Quota | None) -> None:
    assert read_quota(headers) == expected


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/v2/tickets/19856122753300.json", "/api/v2/tickets/{id}.json"),
        ("/api/v2/tickets/2/comments.json", "/api/v2/tickets/{id}/comments.json"),
        ("/api/v2/incremental/tickets/cursor.json", "/api/v2/incremental/tickets/cursor.json"),
        ("/api/v2/users/me.json", "/api/v2/users/me.json"),
        ("/api/v2/job_statuses/V3-abc.json", "/api/v2/job_statuses/V3-abc.json"),
    ],
)
def test_path_template(path: str, template: str) -> None:
    assert path_template(path) == template


def client(sleeps: list[float], max_retries: int = 3) -> HttpClient:
    """A client against the mocked base URL with recorded sleeps."""
    return HttpClient(
        base_url=BASE,
        auth=HTTPBasicAuth("bot@acme.example/token", TOKEN),
        timeout=(3.0, 30.0),
        max_retries=max_retries,
        secrets=(TOKEN,),
        connector="acme",
        sleep=sleeps.append,
    )


URL = f"{BASE}/api/v2/tickets/42.json"


def test_429_waits_the_retry_after_then_succeeds(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(
        URL,
        status=429,
        json=load("synthetic/zendesk_error_429_incremental.json"),
        headers={"Retry-After": "93.0"},
    )
    api.get(URL, json={"ticket": {"id": 42}})
    assert client(sleeps).request("GET", "/api/v2/tickets/42.json") == {"ticket": {"id": 42}}
    assert sleeps == [93.0]


def test_429_gives_up_with_rate_limited_carrying_the_pause(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(
        URL,
        status=429,
        body="Number of allowed requests per hour exceeded",
        headers={"Retry-After": "7"},
    )
    with pytest.raises(RateLimited) as err:
        client(sleeps, max_retries=2).request("GET", "/api/v2/tickets/42.json")
    assert err.value.retry_after == 7.0
    assert err.value.status == 429
    assert sleeps == [7.0, 7.0]
    assert len(api.calls) == 3


def test_429_without_retry_after_waits_at_least_ten_seconds(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(URL, status=429, body="Too Many Requests", content_type="text/plain")
    api.get(URL, json={})
    client(sleeps).request("GET", "/api/v2/tickets/42.json")
    assert sleeps == [10.0]


def test_retries_stop_at_the_total_wait_cap(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(URL, status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited):
        client(sleeps, max_retries=10).request("GET", "/api/v2/tickets/42.json")
    assert sleeps == [600.0]  # a second 600 s wait would pass the 900 s cap


def test_503_is_retried_with_backoff(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(
        URL,
        status=503,
        body="<html><body>Service Unavailable</body></html>",
        content_type="text/html",
    )
    api.get(URL, status=502)
    api.get(URL, json={"ticket": {"id": 42}})
    assert client(sleeps).request("GET", "/api/v2/tickets/42.json") == {"ticket": {"id": 42}}
    assert len(sleeps) == 2
    assert all(0 < s <= 61 for s in sleeps)


def test_timeouts_and_resets_are_transient_and_retried(api: responses.RequestsMock) -> None:
    sleeps: list[float] = []
    api.get(URL, body=requests.ReadTimeout("read timed out"))
    api.get(URL, body=requests.ConnectionError("reset by peer"))
    api.get(URL, json={"ok": True})
    assert client(sleeps).request("GET", "/api/v2/tickets/42.json") == {"ok": True}
    assert len(sleeps) == 2


def test_every_request_carries_the_timeout(api: responses.RequestsMock) -> None:
    api.get(URL, status=500)
    api.get(URL, json={})
    client([]).request("GET", "/api/v2/tickets/42.json")
    assert [c.request.req_kwargs["timeout"] for c in api.calls] == [(3.0, 30.0), (3.0, 30.0)]


def test_post_is_not_repeated_after_an_ambiguous_failure(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/api/v2/tickets.json", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError):
        client([]).request("POST", "/api/v2/tickets.json", json_body={"ticket": {}})
    assert len(api.calls) == 1


def test_post_is_repeated_when_the_server_refused_it(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/api/v2/tickets.json", status=503, headers={"Retry-After": "2"})
    api.post(f"{BASE}/api/v2/tickets.json", status=201, json={"ticket": {"id": 9}})
    sleeps: list[float] = []
    assert client(sleeps).request("POST", "/api/v2/tickets.json", json_body={})["ticket"]["id"] == 9
    assert sleeps == [2.0]


@pytest.mark.parametrize(
    ("status", "scope", "method", "error"),
    [
        (401, "account", "GET", AuthError),
        (401, "ticket", "GET", AuthError),
        (403, "account", "GET", AuthError),
        (403, "ticket", "GET", SkippableError),
        (404, "ticket", "GET", SkippableError),
        (422, "ticket", "PUT", SkippableError),
        (404, "account", "GET", HelpdeskError),
        (400, "account", "GET", HelpdeskError),
        (409, "ticket", "PUT", ConflictError),
    ],
)
def test_status_classification(
    api: responses.RequestsMock, status: int, scope: str, method: str, error: type[Exception]
) -> None:
    api.add(method, URL, status=status, body="", content_type="text/html")
    with pytest.raises(error) as err:
        client([]).request(method, "/api/v2/tickets/42.json", ticket_id=42, scope=scope)  # type: ignore[arg-type]
    assert type(err.value) is error
    assert len(api.calls) == 1  # none of these is retried


def test_409_on_a_read_is_transient(api: responses.RequestsMock) -> None:
    api.get(
        URL,
        status=409,
        body=read_text("error_409_conflict_text_plain.txt"),
        content_type="text/plain",
    )
    api.get(URL, json={})
    sleeps: list[float] = []
    client(sleeps).request("GET", "/api/v2/tickets/42.json")
    assert len(sleeps) == 1


def test_error_names_method_path_ticket_and_vendor_details(api: responses.RequestsMock) -> None:
    api.get(URL, status=404, json=load("error_404_record_not_found.json"))
    with pytest.raises(SkippableError) as err:
        client([]).request("GET", "/api/v2/tickets/42.json", ticket_id=42, scope="ticket")
    assert (
        str(err.value)
        == "GET /api/v2/tickets/{id}.json (ticket 42): HTTP 404 RecordNotFound: Not found"
    )
    assert err.value.code == "RecordNotFound"
    assert err.value.ticket_id == 42


def test_an_echoed_secret_is_redacted(api: responses.RequestsMock) -> None:
    api.get(URL, status=400, body=f"bad header Basic {TOKEN}", content_type="text/plain")
    with pytest.raises(HelpdeskError) as err:
        client([]).request("GET", "/api/v2/tickets/42.json")
    assert TOKEN not in str(err.value)


def test_low_quota_pauses_before_the_next_call(api: responses.RequestsMock) -> None:
    api.get(URL, json={}, headers={"x-rate-limit": "700", "x-rate-limit-remaining": "35"})
    sleeps: list[float] = []
    http = client(sleeps)
    http.request("GET", "/api/v2/tickets/42.json")
    assert http.last_quota == Quota(35, 700)
    assert sleeps == []
    http.request("GET", "/api/v2/tickets/42.json")
    # a read waits until the budget is back at its 20% floor: 105 calls short at 700 a minute
    assert sleeps == [pytest.approx(9.0, abs=0.01)]


def test_healthy_quota_never_pauses(api: responses.RequestsMock) -> None:
    api.get(URL, json={}, headers={"x-rate-limit": "700", "x-rate-limit-remaining": "695"})
    sleeps: list[float] = []
    client(sleeps).request("GET", "/api/v2/tickets/42.json")
    assert sleeps == []


def test_calls_are_counted_per_attempt_by_endpoint(api: responses.RequestsMock) -> None:
    api.get(URL, status=500)
    api.get(URL, json={})
    api.get(f"{BASE}/api/v2/tickets/43.json", json={})
    http = client([])
    http.request("GET", "/api/v2/tickets/42.json")
    http.request("GET", "/api/v2/tickets/43.json")
    assert http.calls == {"GET /api/v2/tickets/{id}.json": 3}


def test_response_hooks_hear_every_answer_retried_429s_included(
    api: responses.RequestsMock,
) -> None:
    api.get(URL, status=429, headers={"Retry-After": "2"})
    api.get(URL, status=404)
    heard: list[tuple[int, str, str]] = []
    http = client([])
    http.add_response_hook(lambda status, method, path: heard.append((status, method, path)))
    with pytest.raises(HelpdeskError):
        http.request("GET", "/api/v2/tickets/42.json")
    assert heard == [
        (429, "GET", "/api/v2/tickets/{id}.json"),
        (404, "GET", "/api/v2/tickets/{id}.json"),
    ]


def test_a_200_that_is_not_json_is_transient(api: responses.RequestsMock) -> None:
    api.get(URL, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(TransientError, match="not JSON"):
        client([], max_retries=0).request("GET", "/api/v2/tickets/42.json")
