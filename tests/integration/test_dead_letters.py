"""Dead letters end to end: a write refused with 422 is listed, retried, and then cleared."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "dead-letter-token-41c7"
TICKET = 41  # a seeded manager request: its rule escalates it with a briefing note


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox on a free port."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


def esc_sync(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process."""
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN})
    return subprocess.run(
        [sys.executable, "-m", "esc_sync", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )


def stored(box: Sandbox, ticket_id: int) -> dict[str, Any]:
    """The sandbox's full record of a ticket."""
    got = requests.get(f"{box.url}/__sandbox/tickets/{ticket_id}", timeout=10).json()
    return got["ticket"]  # type: ignore[no-any-return]


def markers(ticket: dict[str, Any]) -> int:
    """How many worker notes the ticket carries."""
    return sum(
        1 for c in ticket["comments"] if not c.get("public") and "esc-sync:" in c.get("body", "")
    )


def test_a_422_write_is_dead_lettered_then_retried_once(box: Sandbox, tmp_path: Path) -> None:
    config = str(write_demo_config(tmp_path, box.url, RULES))
    # the seed's escalations go out in a bulk job: the ticket's item fails there, then its
    # write alone is refused with 422
    requests.post(
        f"{box.url}/__sandbox/faults",
        json={"kind": "job_items", "ids": [TICKET], "count": 1},
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{box.url}/__sandbox/faults",
        json={"kind": "422", "count": 1, "path": rf"/tickets/{TICKET}\.json$", "method": "PUT"},
        timeout=10,
    ).raise_for_status()

    first = esc_sync("run", "--once", "--config", config)
    assert first.returncode == 0, first.stderr
    assert markers(stored(box, TICKET)) == 0  # the refused write left nothing behind

    listed = esc_sync("state", "dead-letters", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert f"ticket {TICKET}:" in listed.stdout
    assert "422" in listed.stdout

    retried = esc_sync("state", "dead-letters", "--retry", "--config", config)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"retried  sandbox  ticket {TICKET}" in retried.stdout
    assert "1 retried, 0 still dead" in retried.stdout
    ticket = stored(box, TICKET)
    assert markers(ticket) == 1
    assert "esc-manager-request" in ticket["tags"]

    assert "no dead letters" in esc_sync("state", "dead-letters", "--config", config).stdout
    # the next cycle finds nothing left to do for it: still exactly one note
    again = esc_sync("run", "--once", "--config", config)
    assert again.returncode == 0, again.stderr
    assert markers(stored(box, TICKET)) == 1
    everything = esc_sync("state", "dead-letters", "--retry", "--config", config)
    assert "no dead letters" in everything.stdout
    assert TOKEN not in listed.stdout + retried.stdout + retried.stderr
