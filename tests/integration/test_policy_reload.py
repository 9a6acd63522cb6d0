"""Policy reload in a running daemon: SIGHUP (or a changed file) swaps in a valid policy;
an invalid one is rejected with every problem logged, and the last good policy keeps running."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "reload-token-8c2d"
PROBE_RULE = """
[[rules]]
id = "reload-probe"
name = "Added while the daemon runs"
when.all = [{ field = "subject", matches = "reload-probe" }]
then.tags = ["esc-reload-probe"]
"""
REJECTED = "policy reload rejected; keeping the last good policy"
BAD_RULE = """
[[rules]]
id = "broken"
name = "Refers to a field that does not exist"
when.all = [{ field = "no_such_field", eq = "x" }]
then.tags = ["esc-broken"]
"""


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox on a free port."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


class Lines:
    """The daemon's JSON log lines, read by a background thread."""

    def __init__(self, stream: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        """Collect every line, parsed when it is JSON."""
        for line in stream:
            self.raw.append(line)
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def wait_for(self, test: Callable[[dict[str, Any]], bool], timeout: float = 60) -> None:
        """Block until some event passes `test`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(test(e) for e in list(self.events)):
                return
            time.sleep(0.1)
        raise AssertionError("no such log event:\n" + "".join(self.raw[-30:]))

    def count(self, event: str) -> int:
        """How many events with this name were logged."""
        return sum(1 for e in list(self.events) if e.get("event") == event)


def tags_of(box: Sandbox, ticket_id: int) -> list[str]:
    """The stored ticket's tags."""
    got = requests.get(f"{box.url}/__sandbox/tickets/{ticket_id}", timeout=10).json()
    return list(got["ticket"]["tags"])


def retitle(box: Sandbox, ticket_id: int, subject: str) -> None:
    """A human agent changes the subject (the ticket shows up in the next cycle)."""
    url = f"{box.url}/__sandbox/tickets/{ticket_id}"
    reply = requests.put(url, json={"ticket": {"subject": subject}}, timeout=10)
    reply.raise_for_status()


def wait_for_tag(box: Sandbox, ticket_id: int, tag: str, timeout: float = 60) -> bool:
    """Whether the tag appears on the ticket within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tag in tags_of(box, ticket_id):
            return True
        time.sleep(0.2)
    return False


def test_sighup_reloads_and_an_invalid_policy_keeps_the_last_good(
    box: Sandbox, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    config = write_demo_config(tmp_path, box.url, rules)
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_WORKER__POLL_INTERVAL": "1s",
           "ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "info"})
    proc = subprocess.Popen([sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    logs = Lines(proc.stderr)
    triggers = rules / "triggers.toml"
    good = triggers.read_text(encoding="utf-8")
    try:
        logs.wait_for(lambda e: e.get("event") == "cycle done")
        retitle(box, 9, "before reload-probe")
        logs.wait_for(lambda e: e.get("event") == "cycle done" and e.get("read", 0) > 0)
        time.sleep(2.5)  # another cycle or two with the old policy
        assert "esc-reload-probe" not in tags_of(box, 9)

        triggers.write_text(good + PROBE_RULE, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        logs.wait_for(lambda e: e.get("event") == "policy reloaded" and e["reason"] == "signal")
        retitle(box, 9, "after reload-probe")
        assert wait_for_tag(box, 9, "esc-reload-probe"), "the new rule did not run"

        triggers.write_text(good + PROBE_RULE + BAD_RULE, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        logs.wait_for(lambda e: e.get("event") == REJECTED)
        logs.wait_for(
            lambda e: e.get("event") == "policy problem" and "no_such_field" in e["problem"]
        )
        retitle(box, 10, "still reload-probe")  # the last good policy (with the probe) runs on
        assert wait_for_tag(box, 10, "esc-reload-probe"), "the last good policy stopped"
        assert "esc-broken" not in tags_of(box, 10)
        assert proc.poll() is None, "the daemon died on a bad policy"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(logs.raw[-30:])
    assert logs.count("policy reloaded") >= 1
    assert TOKEN not in "".join(logs.raw)
