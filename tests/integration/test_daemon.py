"""The daemon as an admin runs it: cycles on a schedule, SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "daemon-token-5b1e"


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox on a free port."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


def api_calls(box: Sandbox, path_part: str) -> int:
    """How many API requests touched a path."""
    log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()
    return sum(1 for r in log if path_part in r["path"])


def test_daemon_polls_and_stops_cleanly_on_sigterm(box: Sandbox, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_WORKER__POLL_INTERVAL": "1s",
           "ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "info"})
    proc = subprocess.Popen([sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # each cycle reads the change feed once (comment text comes from another export)
        feed = "incremental/tickets/cursor"
        while api_calls(box, feed) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert api_calls(box, feed) >= 4, "the daemon did not keep polling"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert '"event": "stopped cleanly"' in err
    assert err.count('"event": "cycle done"') >= 3
    assert TOKEN not in out + err


def test_daemon_logs_a_failure_once_and_the_recovery_once(box: Sandbox, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_WORKER__POLL_INTERVAL": "1s",
           "ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "info"})
    proc = subprocess.Popen([sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while api_calls(box, "incremental/tickets/cursor") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        # the next 8 incremental requests fail: one cycle's attempts (1 + 5 retries), then
        # two more failures before the following cycle gets through
        fault = {"kind": "500", "count": 8, "path": "incremental/tickets/cursor"}
        requests.post(f"{box.url}/__sandbox/faults", json=fault, timeout=10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()
            statuses = [r["status"] for r in log if "incremental/tickets/cursor" in r["path"]]
            if 500 in statuses and statuses[-1] == 200 and statuses.count(500) == 8:
                break
            time.sleep(0.3)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.count('"event": "cycle failed; will retry"') == 1
    assert err.count('"event": "cycle recovered"') == 1
