"""Rate limits, injected faults and the request log."""

from __future__ import annotations

import time

import pytest
import requests

from esc_sync.sandbox import Sandbox
from tests.frozen import frozen_sandbox
from tests.sandbox.conftest import TOKEN, Client, open_ids

EXPORT = "incremental/tickets/cursor.json"


def arm(client: Client, **fault: object) -> None:
    """Arm one fault."""
    answer = client.admin("POST", "faults", json=fault)
    assert answer.status_code == 201, answer.text


def test_incremental_limit_answers_429_with_retry_after() -> None:
    with frozen_sandbox(token=TOKEN, recent_window=0, incremental_limit=2) as box:
        client = Client(box)
        answers = [client.get(EXPORT, params={"start_time": 0}) for _ in range(3)]
        other = client.get("users/me.json")

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {
        "error": "APIRateLimitExceeded",
        "description": "Number of allowed incremental export API requests per minute exceeded",
    }
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert other.status_code == 200


def test_account_limit_answers_429_for_any_endpoint() -> None:
    with frozen_sandbox(token=TOKEN, account_limit=3) as box:
        client = Client(box)
        answers = [client.get("tickets/1.json") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["error"] == "APIRateLimitExceeded"
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert [a.headers["x-rate-limit-remaining"] for a in answers[:3]] == ["2", "1", "0"]


def test_refused_authentication_does_not_spend_the_budget() -> None:
    with frozen_sandbox(token=TOKEN, account_limit=1) as box:
        for _ in range(3):
            requests.get(f"{box.url}/api/v2/users/me.json", timeout=10)
        assert Client(box).get("users/me.json").status_code == 200


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("503", 503)])
def test_429_and_503_faults_ask_to_retry_after_a_second(
    client: Client, kind: str, status: int
) -> None:
    arm(client, kind=kind, count=2, path="incremental")

    answers = [client.get(EXPORT, params={"start_time": 0}) for _ in range(3)]

    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].headers["Retry-After"] == "1"


def test_500_fault_answers_an_html_page(client: Client) -> None:
    arm(client, kind="500", path=r"^/api/v2/tickets/\d+", method="GET")

    broken = client.get("tickets/1.json")
    fine = client.get("tickets/1.json")

    assert broken.status_code == 500 and broken.headers["Content-Type"].startswith("text/html")
    assert "<html>" in broken.text
    assert fine.status_code == 200


def test_faults_match_method_and_path(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="500", method="PUT", path="tickets")

    read = client.get(f"tickets/{tid}.json")
    write = client.put_ticket(tid, {"tags": ["x"]})

    assert (read.status_code, write.status_code) == (200, 500)
    assert box.store.tickets[tid].tags != ["x"], "a 500 fault is not processed"


def test_slow_fault_delays_the_answer(client: Client) -> None:
    arm(client, kind="slow", seconds=0.6)

    started = time.monotonic()
    answer = client.get("users/me.json")

    assert answer.status_code == 200 and time.monotonic() - started >= 0.6


def test_malformed_fault_truncates_the_json_but_applies_the_write(
    client: Client, box: Sandbox
) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="malformed", method="PUT")

    answer = client.put_ticket(tid, {"tags": ["written"]})

    assert answer.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        answer.json()
    assert box.store.tickets[tid].tags == ["written"]


def test_timeout_fault_never_answers(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="timeout", seconds=1.0, method="PUT")

    with pytest.raises((requests.ReadTimeout, requests.ConnectionError)):
        client.api("PUT", f"tickets/{tid}.json", json={"ticket": {"tags": ["lost"]}}, timeout=0.3)

    assert box.store.tickets[tid].tags != ["lost"], "a timeout is not processed by default"
    assert client.put_ticket(tid, {"tags": ["later"]}).status_code == 200


def test_timeout_fault_can_apply_the_write_and_lose_the_answer(
    client: Client, box: Sandbox
) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="timeout", seconds=0.5, method="PUT", apply=True)

    with pytest.raises((requests.ReadTimeout, requests.ConnectionError)):
        client.api("PUT", f"tickets/{tid}.json", json={"ticket": {"tags": ["applied"]}}, timeout=2)

    assert box.store.tickets[tid].tags == ["applied"]


def test_faults_can_be_listed_and_cleared(client: Client) -> None:
    arm(client, kind="503", count=5)

    listed = client.admin("GET", "faults").json()["faults"]
    client.admin("DELETE", "faults")

    assert listed[0]["kind"] == "503" and listed[0]["count"] == 5
    assert client.admin("GET", "faults").json()["faults"] == []
    assert client.get("users/me.json").status_code == 200


def test_unknown_fault_kinds_are_refused(client: Client) -> None:
    answer = client.admin("POST", "faults", json={"kind": "teapot"})

    assert answer.status_code == 422


def test_request_log_records_every_api_request(client: Client) -> None:
    arm(client, kind="429", path="users/me")
    client.get("users/me.json")
    client.get(EXPORT, params={"start_time": 0, "per_page": 5})
    requests.get(f"{client.box.url}/api/v2/users/me.json", timeout=10)
    client.admin("GET", "expectations")

    log = client.admin("GET", "requests").json()

    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/api/v2/users/me.json", 429),
        ("GET", "/api/v2/incremental/tickets/cursor.json", 200),
        ("GET", "/api/v2/users/me.json", 401),
    ]
    assert log[0]["fault"] == "429" and log[1]["fault"] is None
    assert log[1]["query"] == "start_time=0&per_page=5"
    assert log[1]["params"] == {"start_time": "0", "per_page": "5"}
    assert all(r["time"].endswith("Z") for r in log)
    assert client.admin("DELETE", "requests").status_code == 204
    assert client.admin("GET", "requests").json() == []
    assert client.box.store.requests == []
