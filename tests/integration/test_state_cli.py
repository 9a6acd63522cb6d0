"""The CLI with its state on a real PostgreSQL: run, state status, state migrate, and the
errors an admin meets (server unreachable, schema too new, a password in the URL)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from esc_sync.state.pg_schema import PG_SCHEMA_VERSION
from tests.frozen import child_env, frozen_sandbox
from tests.pg import fresh_database, pg_server

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "state-cli-token-51d2"


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with frozen_sandbox(port=0, token=TOKEN, recent_window=0) as sandbox:
        yield sandbox


def esc_sync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, with the test server's password in PGPASSWORD."""
    extra = {"ESC_SYNC_DEMO_TOKEN": TOKEN, "PGPASSWORD": pg_server().password, **env}
    return subprocess.run(
        [sys.executable, "-m", "esc_sync", *args], capture_output=True, text=True,
        env=child_env(extra), timeout=300, check=False,
    )


def use_state(config: Path, url: str) -> None:
    """Point a config's [worker] state at `url`."""
    text = re.sub(r'^state = ".*"$', f'state = "{url}"', config.read_text(), flags=re.M)
    config.write_text(text)


def writes(box: Sandbox) -> int:
    with box.store.lock:
        return sum(1 for r in box.store.requests if r["method"] in ("POST", "PUT"))


def test_migrate_a_sqlite_state_then_run_on_postgresql_without_repeating_anything(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    first = esc_sync("run", "--config", str(config), "--once")
    assert first.returncode == 0, first.stderr
    written = writes(box)
    assert written > 0
    with fresh_database() as url:
        moved = esc_sync("state", "migrate", "--config", str(config), "--to", url)
        assert moved.returncode == 0, moved.stderr
        assert re.search(r"copied \d+ rows", moved.stdout)
        again = esc_sync("state", "migrate", "--config", str(config), "--to", url)
        assert again.returncode == 3 and "--force" in again.stderr
        forced = esc_sync("state", "migrate", "--config", str(config), "--to", url, "--force")
        assert forced.returncode == 0, forced.stderr
        use_state(config, url)
        second = esc_sync("run", "--config", str(config), "--once")
        assert second.returncode == 0, second.stderr
        assert writes(box) == written  # the copied ledger knows every effect: nothing again
        status = esc_sync("state", "status", "--config", str(config), "--json")
        assert status.returncode == 0, status.stderr
        got = json.loads(status.stdout)
        assert got["backend"] == "postgresql"
        row = got["connectors"][0]
        assert row["connector"] == "sandbox" and row["bookmark"]
        assert row["holder"] is None  # `run --once` gave its lease back when it ended
        table = esc_sync("state", "status", "--config", str(config))
        assert "sandbox" in table.stdout and "live workers" in table.stdout


def test_an_unreachable_server_exits_3_and_never_shows_the_password(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    use_state(config, "postgresql://esc_sync@127.0.0.1:1/esc_sync")
    got = esc_sync("run", "--config", str(config), "--once", PGPASSWORD="pw-never-shown-93")
    assert got.returncode == 3
    assert "cannot be reached" in got.stderr and "127.0.0.1:1" in got.stderr
    assert "pw-never-shown-93" not in got.stderr + got.stdout


def test_a_wrong_password_is_refused_without_echoing_it(box: Sandbox, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    with fresh_database() as url:
        use_state(config, url)
        got = esc_sync("run", "--config", str(config), "--once", PGPASSWORD="wrong-pw-71")
    assert got.returncode == 3
    assert "password authentication failed" in got.stderr
    assert "wrong-pw-71" not in got.stderr + got.stdout


def test_a_password_in_the_url_is_refused_without_echoing_it(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    use_state(config, "postgresql://esc_sync:hunter2-secret@127.0.0.1:5432/esc_sync")
    got = esc_sync("run", "--config", str(config), "--once")
    assert got.returncode == 1
    assert "PGPASSWORD" in got.stderr and "worker.state" in got.stderr
    assert "hunter2-secret" not in got.stderr + got.stdout


def test_a_schema_newer_than_the_code_exits_1_naming_both_versions(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, RULES)
    with fresh_database() as url:
        use_state(config, url)
        assert esc_sync("state", "status", "--config", str(config)).returncode == 0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE esc_sync_schema SET version = 42")
        got = esc_sync("run", "--config", str(config), "--once")
    assert got.returncode == 1
    assert "version 42" in got.stderr and f"esc-sync's {PG_SCHEMA_VERSION}" in got.stderr
