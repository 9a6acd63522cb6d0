"""The live Request Tracker suite (marker `rt`): the real CLI against a real RT 5.

`scripts/rt-up` starts RT and writes `<repo>/.rt/env` (another file: `ESC_SYNC_RT_ENV`). When
that file is missing or RT does not answer, every test here is skipped with the reason, which
`pytest -ra` prints. With `ESC_SYNC_REQUIRE_RT=1` (CI) a missing RT fails instead.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.rt.rtlive import DEFAULT_ENV, REPO, Rt, Seeded, read_env, seed
from tests.rt.scenarios import SCENARIOS


def env_file() -> Path:
    return Path(os.environ.get("ESC_SYNC_RT_ENV") or DEFAULT_ENV)


def _unavailable(path: Path) -> tuple[Rt | None, str | None]:
    if not path.is_file():
        return None, f"no {path}"
    env = read_env(path)
    if not env.get("RT_URL") or not env.get("RT_TOKEN") or not env.get("RT_PID"):
        return None, f"{path} names no running server"
    rt = Rt.from_env(env)
    return rt, rt.answers()


@pytest.fixture(scope="package")
def rt() -> Iterator[Rt]:
    """The running RT, or a skip ("RT not running: run scripts/rt-up").

    Held under a lock in its run dir while this package's tests run: two pytest sessions on one
    machine take turns instead of seeding (and resetting) the same instance at once.
    """
    path = env_file()
    server, why = _unavailable(path)
    if server is None or why is not None:
        reason = f"RT not running: run scripts/rt-up ({why})"
        if os.environ.get("ESC_SYNC_REQUIRE_RT") == "1":
            pytest.fail(f"ESC_SYNC_REQUIRE_RT=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    lock = open(path.parent / "suite.lock", "a")  # noqa: SIM115 (held until teardown)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another session runs this package
        server = Rt.from_env(read_env(path))  # another session may have replaced it meanwhile
        if server.ticket_count() and server.run_dir is not None:
            server = fresh_instance(server)
        assert server.ticket_count() == 0, f"{server.url} already holds tickets: run scripts/rt-up"
        yield server
    finally:
        lock.close()


def fresh_instance(server: Rt) -> Rt:
    """Replace an instance an earlier session seeded with a fresh one (same run dir, port)."""
    env = {**os.environ, "RT_RUN_DIR": str(server.run_dir), "RT_SKIP_APT_UPDATE": "1",
           "RT_PORT": str(urlsplit(server.url).port)}
    started = subprocess.run([str(REPO / "scripts" / "rt-up")], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
    assert started.returncode == 0, started.stderr[-3000:]
    assert server.run_dir is not None
    return Rt.from_env(read_env(server.run_dir / "env"))


@pytest.fixture(scope="package")
def seeded(rt: Rt) -> Seeded:
    """The scenarios, created once in the running RT. test_cycle.py's live run escalates them:
    a module that needs untouched tickets starts an instance of its own (see test_crash.py)."""
    return seed(rt, SCENARIOS)
