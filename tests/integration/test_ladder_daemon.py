"""The ladder on the real daemon against the sandbox, with second-scale deadlines."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "ladder-token-9d2f"
TICKET = 41  # a seeded manager request: escalated to t2 by its rule
GROUPS = {360000002: "t2", 360000003: "t3", 360000004: "t4"}
SECOND_TIERS = """
[[tiers]]
id = "t1"
name = "Frontline"
respond_within = "20s"
resolve_within = "10m"
[[tiers]]
id = "t2"
name = "Team lead"
respond_within = "20s"
resolve_within = "10m"
[[tiers]]
id = "t3"
name = "Specialist"
respond_within = "20s"
resolve_within = "10m"
[[tiers]]
id = "t4"
name = "Executive"
respond_within = "20s"
resolve_within = "10m"
[ladder]
remind_before = ["10s"]
top = "t4"
"""


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox on a free port."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000,
                 account_limit=100000) as sandbox:
        yield sandbox


def start_daemon(config: Path) -> subprocess.Popen[str]:
    """`esc-sync run` polling every 2 s, logging JSON."""
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_WORKER__POLL_INTERVAL": "2s",
           "ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "info"})
    return subprocess.Popen([sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, and the daemon's log."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def notes(box: Sandbox) -> list[dict[str, Any]]:
    """The worker's internal notes on the watched ticket."""
    ticket = requests.get(f"{box.url}/__sandbox/tickets/{TICKET}", timeout=10).json()
    ticket = ticket.get("ticket", ticket)
    return [c for c in ticket["comments"] if not c["public"] and "esc-sync:" in c["body"]]


def wait_for(box: Sandbox, marker: str, limit: float) -> dict[str, Any]:
    """Wait until a note carrying the marker appears."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = [n for n in notes(box) if marker in n["body"]]
        if found:
            return found[0]
        time.sleep(0.5)
    seen = [n["body"][-80:] for n in notes(box)]
    raise AssertionError(f"no note with {marker} within {limit}s: {seen}")


def at(note: dict[str, Any]) -> datetime:
    """When a note was written."""
    return datetime.fromisoformat(note["created_at"].replace("Z", "+00:00"))


def lateness(move: dict[str, Any]) -> float:
    """Seconds between the missed deadline a move note names and the note itself."""
    found = re.search(r"deadline of (\S+Z) by", move["body"])
    assert found, move["body"]
    due = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
    return (at(move) - due).total_seconds()


def test_the_ladder_climbs_within_a_minute_of_each_missed_deadline(
    box: Sandbox, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "tiers.toml").write_text(SECOND_TIERS)
    config = write_demo_config(tmp_path, box.url, rules)

    daemon = start_daemon(config)
    try:
        briefing = wait_for(box, "esc-sync:manager-request:t2:ep1", 60)
        wait_for(box, "esc-sync:remind-response-10s:t2:ep1", 60)
        first_move = wait_for(box, "esc-sync:missed-response:t3:ep1", 90)
    finally:
        log = stop(daemon)
    assert 0 <= lateness(first_move) <= 60
    assert at(first_move) > at(briefing)
    assert "Traceback" not in log

    daemon = start_daemon(config)  # restarted in the middle of the climb
    try:
        second_move = wait_for(box, "esc-sync:missed-response:t4:ep1", 120)
        time.sleep(4)
    finally:
        stop(daemon)
    assert 0 <= lateness(second_move) <= 60
    assert (at(second_move) - at(first_move)).total_seconds() >= 15

    markers = [line for n in notes(box) for line in n["body"].split() if "esc-sync:" in line]
    assert len(markers) == len(set(markers)), f"a note was written twice: {markers}"
    ticket = requests.get(f"{box.url}/__sandbox/tickets/{TICKET}", timeout=10).json()
    ticket = ticket.get("ticket", ticket)
    assert GROUPS[ticket["group_id"]] == "t4"
    assert "esc-missed-response" in ticket["tags"]
