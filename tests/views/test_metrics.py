"""`esc-sync run --metrics-port`: Prometheus counters move with cycles; /healthz turns 503."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from esc_sync.metrics import Metrics
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, suite_now
from tests.views.conftest import TOKEN


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until the check holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.fixture()
def daemon(box: Sandbox, config: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`esc-sync run` polling every second, serving metrics on a free port."""
    text = config.read_text().replace(
        "[worker]\n", '[worker]\npoll_interval = "1s"\ncycle_deadline = "2s"\n', 1
    )
    config.write_text(text)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "esc_sync",
            "run",
            "--config",
            str(config),
            "--metrics-port",
            str(port),
        ],
        env=child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def scrape(url: str) -> str:
    """One scrape of /metrics."""
    got = requests.get(f"{url}/metrics", timeout=5)
    got.raise_for_status()
    return got.text


def test_counters_move_with_a_cycle(
    box: Sandbox, daemon: tuple[str, subprocess.Popen[str]]
) -> None:
    url, _ = daemon
    wait_for(lambda: sample(scrape(url), "esc_sync_cycles_total", connector="sandbox") >= 1)
    first = scrape(url)
    assert sample(first, "esc_sync_tickets_read_total", connector="sandbox") >= 58
    assert sample(first, "esc_sync_escalations_total", rule="manager-request", tier="t2") >= 1
    assert sample(first, "esc_sync_writes_total", kind="ticket_update", outcome="applied") >= 29
    assert sample(first, "esc_sync_api_calls_total", connector="sandbox") > 0
    assert sample(first, "esc_sync_last_success_timestamp_seconds") > suite_now().timestamp() - 120
    for name in (
        "esc_sync_bookmark_lag_seconds",
        "esc_sync_due_index_size",
        "esc_sync_api_rate_limited_total",
    ):
        assert re.search(rf"^{name}\{{", first, re.M), name
    read_before = sample(first, "esc_sync_tickets_read_total")

    requests.put(  # an agent changes a ticket: the next cycle reads it
        f"{box.url}/__sandbox/tickets/9", json={"ticket": {"tags": ["seen-by-qa"]}}, timeout=10
    ).raise_for_status()

    wait_for(lambda: sample(scrape(url), "esc_sync_tickets_read_total") > read_before)
    health = requests.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_rate_limited_answers_are_counted(
    box: Sandbox, daemon: tuple[str, subprocess.Popen[str]]
) -> None:
    url, _ = daemon
    wait_for(lambda: sample(scrape(url), "esc_sync_cycles_total") >= 1)

    requests.post(  # the helpdesk refuses the next two feed reads (Retry-After: 1)
        f"{box.url}/__sandbox/faults",
        json={"kind": "429", "count": 2, "path": "incremental"},
        timeout=10,
    ).raise_for_status()

    wait_for(
        lambda: sample(scrape(url), "esc_sync_api_rate_limited_total", connector="sandbox") >= 2
    )
    cycles = sample(scrape(url), "esc_sync_cycles_total")
    wait_for(lambda: sample(scrape(url), "esc_sync_cycles_total") > cycles)  # retried, not failed


def test_healthz_turns_503_when_cycles_stop_succeeding(
    box: Sandbox, daemon: tuple[str, subprocess.Popen[str]]
) -> None:
    url, _ = daemon
    wait_for(lambda: sample(scrape(url), "esc_sync_cycles_total") >= 1)
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

    requests.post(  # the helpdesk starts failing: every following cycle fails
        f"{box.url}/__sandbox/faults",
        json={"kind": "503", "count": 100000, "path": "incremental"},
        timeout=10,
    ).raise_for_status()

    wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 503, timeout=90)
    detail = requests.get(f"{url}/healthz", timeout=5).json()
    assert detail["status"] == "unhealthy" and not detail["connectors"]["sandbox"]["ok"]


def test_health_bound_from_start_and_from_the_last_success() -> None:
    now = [1000.0]
    metrics = Metrics(clock=lambda: now[0])

    assert metrics.health(90, ["zd"])[0]  # just started
    now[0] += 91
    assert not metrics.health(90, ["zd"])[0]  # no cycle succeeded within the bound
