"""With JSON logs, every line the worker writes to stderr is one JSON object, connectors' too."""

from __future__ import annotations

import json
import re
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
TOKEN = "json-logs-token-2b7e"
FEED = {"zendesk": r"incremental", "freshdesk": r"^/api/v2/tickets$"}
CONSOLE_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")  # structlog's console format


@pytest.fixture(params=["zendesk", "freshdesk"])
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A fresh sandbox on a free port, speaking each dialect in turn."""
    with frozen_sandbox(
        port=0, token=TOKEN, recent_window=0, incremental_limit=1000, dialect=request.param
    ) as sandbox:
        yield sandbox


def test_json_logs_at_debug_are_json_on_every_stderr_line(box: Sandbox, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, box.url, RULES, box.dialect)
    requests.post(  # one refused feed read: the HTTP core and the budget log a retry and a pause
        f"{box.url}/__sandbox/faults",
        json={"kind": "429", "count": 1, "path": FEED[box.dialect]},
        timeout=10,
    ).raise_for_status()
    logs = {"ESC_SYNC_LOG__FORMAT": "json", "ESC_SYNC_LOG__LEVEL": "debug"}
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, **logs})

    done = subprocess.run(
        [sys.executable, "-m", "esc_sync", "run", "--config", str(config), "--once"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )

    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = []
    for line in filter(str.strip, done.stderr.splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            pytest.fail(f"a stderr line is not JSON: {line!r}")
        assert isinstance(event, dict), line
        events.append(event)
    from_connector = {e["event"] for e in events if e.get("connector") == "sandbox"}
    assert {f"{box.dialect}.page", "http.retry", "http.shared_pause"} <= from_connector
    assert any(e.get("logger", "").startswith("urllib3") for e in events)  # stdlib records too
    assert all(e.get("level") and e.get("timestamp") for e in events)
    assert not [line for line in done.stdout.splitlines() if CONSOLE_LINE.match(line)]
