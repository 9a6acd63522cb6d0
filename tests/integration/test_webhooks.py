"""Webhooks end to end: the sandbox sends signed pokes like Zendesk (or Freshdesk) does, the
listener verifies them, the worker re-reads the ticket and the escalation lands in seconds,
with the poll interval an hour."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.app import build_app
from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from esc_sync.webhooks.server import serve_webhooks
from esc_sync.worker.daemon import Daemon
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "hooks-token-7f3a"
SECRET = "hooks-signing-secret-91c2"
QUIET_TICKET = 10  # open, and the default rules leave it alone (see the seed's expectations)


def with_secret(profile: Path) -> None:
    """Name the secret's variable in the profile (before its first table)."""
    line = 'webhook_secret_env = "ESC_SYNC_DEMO_WEBHOOK_SECRET"\n'
    profile.write_text(line + profile.read_text())


def notes(box: Sandbox, ticket_id: int) -> list[str]:
    got = requests.get(f"{box.url}/__sandbox/tickets/{ticket_id}", timeout=10).json()["ticket"]
    return [c["body"] for c in got["comments"] if not c["public"] and "esc-sync:" in c["body"]]


def customer_writes(box: Sandbox, ticket_id: int, text: str) -> None:
    answer = requests.post(f"{box.url}/__sandbox/tickets/{ticket_id}/comments",
                           json={"body": text}, timeout=10)
    assert answer.status_code == 201


def wait_for(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


@pytest.fixture(params=["zendesk", "freshdesk"])
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000,
                        dialect=request.param) as sandbox:
        yield sandbox


def test_a_manager_request_lands_within_two_seconds(box: Sandbox, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", TOKEN)
    monkeypatch.setenv("ESC_SYNC_DEMO_WEBHOOK_SECRET", SECRET)
    config = write_demo_config(tmp_path, box.url, RULES, box.dialect)
    with_secret(tmp_path / "sandbox.toml")
    app = build_app(config, clock=box.store.clock.now)
    pokes, listener = serve_webhooks("127.0.0.1", 0, app.config.profiles, app.worker.clock)
    polled = threading.Event()
    daemon = Daemon(app.worker, app.connectors, interval_seconds=3600, pokes=pokes,
                    on_cycle=lambda report: polled.set())
    loop = threading.Thread(target=daemon.run)
    try:
        loop.start()
        assert polled.wait(60)  # the first poll is done; the next is an hour away
        assert notes(box, QUIET_TICKET) == []
        box.send_webhooks(f"{listener.url}/webhooks/sandbox", SECRET)
        reads_before = len(requests.get(f"{box.url}/__sandbox/requests", timeout=10).json())

        changed = time.monotonic()
        customer_writes(box, QUIET_TICKET, "This is the third time. I want to speak to a manager.")
        assert wait_for(lambda: notes(box, QUIET_TICKET), 10), "the escalation did not land"
        latency = time.monotonic() - changed

        assert latency < 2.0, f"took {latency:.2f} s"
        log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()[reads_before:]
        feed = [r for r in log if "incremental" in r["path"] or "updated_since" in str(r)]
        assert feed == [], "the poll interval is an hour: only the poke may have read"

        def records() -> list[dict[str, Any]]:  # the record follows the write that made the note
            lines = app.config.audit_path.read_text().splitlines()
            return [r for r in map(json.loads, lines) if r.get("ticket") == QUIET_TICKET
                    and "manager-request" in [m["rule"] for m in r.get("rules", [])]]

        assert wait_for(records, 10)
        fired = records()
        assert all(r.get("trigger") == "webhook" for r in fired), fired
        attempts = requests.get(f"{box.url}/__sandbox/webhooks", timeout=10).json()["attempts"]
        assert [a["status"] for a in attempts] == [202]
    finally:
        daemon.request_stop()
        loop.join(timeout=30)
        listener.stop()
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_esc_sync_run_serves_webhooks_and_retried_deliveries_get_through(tmp_path: Path) -> None:
    """`esc-sync run` with `[webhooks] listen`: the sandbox's first deliveries find nobody
    listening and are retried; once the worker is up, the poke lands; secrets stay out of logs."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as box:
        config = write_demo_config(tmp_path, box.url, RULES)
        with_secret(tmp_path / "sandbox.toml")
        port = free_port()
        config.write_text(config.read_text() + f'\n[webhooks]\nlisten = "127.0.0.1:{port}"\n')
        box.send_webhooks(f"http://127.0.0.1:{port}/webhooks/sandbox", SECRET)
        customer_writes(box, QUIET_TICKET, "Please put me through to your supervisor.")
        env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_DEMO_WEBHOOK_SECRET": SECRET,
                         "ESC_SYNC_WORKER__POLL_INTERVAL": "1h",
                         "ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "debug"})
        time.sleep(0.5)  # the first attempts fail: nothing listens yet
        proc = subprocess.Popen([sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: notes(box, QUIET_TICKET), 60)

            def attempts_so_far() -> list[dict[str, Any]]:
                got = requests.get(f"{box.url}/__sandbox/webhooks", timeout=10).json()
                return list(got["attempts"])

            assert wait_for(lambda: attempts_so_far()[-1]["status"] == 202, 40)
            attempts = attempts_so_far()
            assert attempts[0]["status"] == 0 and attempts[-1]["status"] == 202
            assert len({a["invocation"] for a in attempts}) == 1  # one delivery, retried
            # a forged poke is refused
            forged = requests.post(f"http://127.0.0.1:{port}/webhooks/sandbox",
                                   json={"ticket_id": 12}, timeout=10)
            assert forged.status_code == 401
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert SECRET not in out + err and TOKEN not in out + err
        assert '"event": "webhooks listening"' in err
