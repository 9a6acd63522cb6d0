"""A worker killed (SIGKILL) in the middle of a live cycle, then run again: every expected
escalation is there once, no briefing and no follow-up task twice.

This module works on an RT instance of its own (scripts/rt-up with its own run dir, stopped at
the end by scripts/rt-down), so the session's instance keeps its state for the other modules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rt.expect import cli_env, esc_sync, escalation_problems, planned_tasks
from tests.rt.rtlive import REPO, Rt, read_env, seed, write_config
from tests.rt.scenarios import SCENARIOS

pytestmark = pytest.mark.rt


@pytest.fixture()
def own_rt(rt: Rt) -> Iterator[Rt]:
    """A second, fresh RT next to the session's one (same machine, another port)."""
    base = rt.run_dir if rt.run_dir is not None else REPO / ".rt"
    run_dir = base / "crash-test"
    env = {**os.environ, "RT_RUN_DIR": str(run_dir), "RT_SKIP_APT_UPDATE": "1"}
    env.pop("RT_PORT", None)
    started = subprocess.run([str(REPO / "scripts" / "rt-up")], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield Rt.from_env(read_env(run_dir / "env"))
    finally:
        subprocess.run([str(REPO / "scripts" / "rt-down"), "--quiet"], env=env, timeout=60,
                       check=False)


def bot_writes(rt: Rt, after_txn: int, after_ticket: int) -> tuple[int, int]:
    """(transactions, tickets) the bot made since the seed."""
    with rt.sql() as conn:
        (bot,) = conn.execute("SELECT id FROM Users WHERE Name = ?", (rt.bot,)).fetchone()
        txns = conn.execute("SELECT COUNT(*) FROM Transactions WHERE Creator = ? AND id > ?",
                            (bot, after_txn)).fetchone()[0]
        tickets = conn.execute("SELECT COUNT(*) FROM Tickets WHERE Creator = ? AND id > ?",
                               (bot, after_ticket)).fetchone()[0]
    return int(txns), int(tickets)


# When to kill: as soon as the first write landed (the first ticket's update, before or while
# its briefing is written), or in the middle of the first ticket's follow-up tasks.
KILL_AT = {
    "first-write": lambda txns, tickets: txns >= 1,
    "mid-playbook": lambda txns, tickets: tickets >= 2,
}


@pytest.mark.parametrize("kill_at", sorted(KILL_AT))
def test_kill_mid_cycle_then_rerun_leaves_no_duplicate(
    own_rt: Rt, tmp_path: Path, kill_at: str
) -> None:
    rt = own_rt
    seeded = seed(rt, SCENARIOS)
    last_seeded, seeded_txn = max(seeded.tickets), rt.max_transaction()
    decoys = sorted(seeded.decoys)
    decoys_before = rt.snapshot(decoys)

    dry = write_config(tmp_path / "dry", rt)
    plan = esc_sync("run", "--config", str(dry), "--once", "--dry-run", rt=rt)
    assert plan.returncode == 0, plan.stderr[-3000:]
    tasks = planned_tasks(tmp_path / "dry" / "audit.jsonl")
    assert tasks, "the dry run planned no follow-up tasks"

    config = write_config(tmp_path / "live", rt)
    worker = subprocess.Popen(
        [sys.executable, "-m", "esc_sync", "run", "--config", str(config), "--once"],
        env=cli_env(rt), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not KILL_AT[kill_at](*bot_writes(rt, seeded_txn, last_seeded)):
            assert worker.poll() is None, "the worker finished before it could be killed"
            assert time.monotonic() < deadline, "the worker wrote no task within 300 s"
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    interrupted = escalation_problems(rt, seeded, tasks=tasks)
    assert interrupted, "the kill came after the cycle had finished its work"

    again = esc_sync("run", "--config", str(config), "--once", rt=rt)
    assert again.returncode == 0, again.stderr[-3000:]

    problems = escalation_problems(rt, seeded, tasks=tasks)
    failing = {p.split(":")[0] for p in problems}  # "#8 'Subject'"
    assert problems == [], "\n".join([
        *problems, f"--- the same tickets after the kill ({kill_at}), before the rerun:",
        *(p for p in interrupted if p.split(":")[0] in failing)])
    assert rt.snapshot(decoys) == decoys_before, "decoys were touched"

    final = rt.max_transaction()
    third = esc_sync("run", "--config", str(config), "--once", rt=rt)
    assert third.returncode == 0, third.stderr[-3000:]
    assert rt.max_transaction() == final, "a run after the recovery still wrote"
