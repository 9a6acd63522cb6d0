"""A recognisable token never reaches a log, the audit log, the state store or --help."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "SECRET-tok3n-5f9e1c7a"


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A sandbox that accepts the recognisable token."""
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0, incremental_limit=1000) as sandbox:
        yield sandbox


def test_a_full_cycle_leaves_the_token_nowhere(box: Sandbox, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_LOG__FORMAT": "json",
           "ESC_SYNC_LOG__LEVEL": "debug"})
    outputs = []
    for args in (["--dry-run"], [], ["--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "esc_sync", "run", "--config", str(config), "--once", *args],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)

    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.suffix == ".db" for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), f"the token leaked into {path.name}"
    for text in outputs:
        assert TOKEN not in text
    assert any('"level": "debug"' in text or '"level": "info"' in text for text in outputs)
