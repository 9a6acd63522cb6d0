"""Shared fixtures for the visibility verbs: a sandbox, a config pointing at it, the real CLI."""

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

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "views-token-4c1d"


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A fresh sandbox on a free port."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


@pytest.fixture()
def config(box: Sandbox, tmp_path: Path) -> Path:
    """A worker config (state and audit log in tmp_path) pointing at the sandbox."""
    return write_demo_config(tmp_path, box.url, RULES)


def esc_sync(
    *args: str, token: str = TOKEN, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as an admin would."""
    env = child_env({"ESC_SYNC_DEMO_TOKEN": token})
    return subprocess.run(
        [sys.executable, "-m", "esc_sync", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def api_requests(box: Sandbox) -> list[dict[str, Any]]:
    """Requests the helpdesk API received (the sandbox's own admin calls excluded)."""
    log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()
    return [r for r in log if not r["path"].startswith("/__sandbox")]


def solve(box: Sandbox, ticket_id: int) -> None:
    """An agent solves a ticket in the helpdesk."""
    got = requests.put(
        f"{box.url}/__sandbox/tickets/{ticket_id}",
        json={"ticket": {"status": "solved"}},
        timeout=10,
    )
    got.raise_for_status()
