"""Chaos run: faults on every request, the worker killed at random, then the final state checked.

Used by the test suite (small and bounded) and by `bench/chaos.py` (long form). The sandbox
injects 429s with Retry-After, 500/503s, slow answers past the client timeout, truncated JSON and
lost answers on writes; the worker (`esc-sync run --once`, a real process) is SIGKILLed at random
moments and restarted, until a clean cycle completes. Then every expected escalation must be on
the helpdesk exactly once and no decoy touched.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from esc_sync.clock import NOW_VARIABLE
from esc_sync.demo import PROFILES
from esc_sync.sandbox import Sandbox

TOKEN = "chaos-token-4c1d"
FAULTS: list[dict[str, Any]] = [
    {"kind": "429", "rate": 0.05},
    {"kind": "500", "rate": 0.04},
    {"kind": "503", "rate": 0.04},
    {"kind": "slow", "rate": 0.02, "seconds": 2.5},
    {"kind": "malformed", "rate": 0.03},
    {"kind": "timeout", "rate": 0.02, "seconds": 2.5, "apply": True},
]
CONFIG = """[worker]
rules = "{rules}"
state = "sqlite:///{work}/chaos.db"
audit_log = "{work}/chaos-audit.jsonl"

[log]
format = "json"
level = "warning"

[[connectors]]
name = "sandbox"
profile = "sandbox.toml"
"""
CHAOS_SETTINGS = "timeout = [2, 2]\nmax_retries = 3\n"


def profile_text(dialect: str, url: str, page_size: int) -> str:
    """The demo's profile of a dialect, with the chaos token, short timeouts and page size."""
    text = PROFILES[dialect].format(url=url).replace("ESC_SYNC_DEMO_TOKEN", "ESC_SYNC_CHAOS_TOKEN")
    lines = [line for line in text.splitlines() if not line.startswith("page_size")]
    at = next(i for i, line in enumerate(lines) if line.startswith("start ="))
    size = min(page_size, 100) if dialect == "freshdesk" else page_size
    lines[at + 1 : at + 1] = [*CHAOS_SETTINGS.splitlines(), f"page_size = {size}"]
    return "\n".join(lines) + "\n"


GROUP_TIERS = {360000001: "t1", 360000002: "t2", 360000003: "t3", 360000004: "t4"}


@dataclass
class ChaosResult:
    """What a chaos run did and found."""

    tickets: int = 0
    expected_escalations: int = 0
    runs: int = 0
    kills: int = 0
    faults_injected: int = 0
    api_calls: int = 0
    duplicates: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    wrong_tier: list[int] = field(default_factory=list)
    decoys_touched: list[int] = field(default_factory=list)
    duplicate_tasks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # runs under faults that were not killed, and how each ended (exit code -> runs)
    steady_runs: int = 0
    steady_exits: Counter[int] = field(default_factory=Counter)
    deferred: int = 0  # tickets deferred to a later cycle over the whole run (audit records)

    @property
    def steady_completed(self) -> int:
        """Runs under faults, not killed, that completed (exit 0)."""
        return self.steady_exits[0]

    @property
    def clean(self) -> bool:
        """No duplicate, no miss, nothing out of place."""
        return not (
            self.duplicates
            or self.misses
            or self.wrong_tier
            or self.decoys_touched
            or self.duplicate_tasks
        )


def run_chaos(
    work: Path,
    rules: Path,
    *,
    tickets: int = 64,
    kills: int = 6,
    seed: int = 11,
    page_size: int = 1000,
    max_clean_tries: int = 15,
    now: datetime | None = None,
    dialect: str = "zendesk",
    steady_runs: int = 0,
) -> ChaosResult:
    """One chaos run in `work` against a fresh sandbox; the figures and any violation."""
    rng = random.Random(seed)
    result = ChaosResult()
    started = time.monotonic()
    with Sandbox(
        port=0,
        token=TOKEN,
        tickets=tickets,
        recent_window=0,
        incremental_limit=100000,
        account_limit=1000000,
        now=now,
        dialect=dialect,
    ) as box:
        (work / "sandbox.toml").write_text(profile_text(dialect, box.url, page_size))
        config = work / "config.toml"
        config.write_text(CONFIG.format(rules=rules.resolve().as_posix(), work=work.as_posix()))
        expected = {
            int(k): v
            for k, v in requests.get(f"{box.url}/__sandbox/expectations", timeout=30).json().items()
        }
        result.tickets = len(expected)
        result.expected_escalations = sum(len(v["rules"]) for v in expected.values())
        for fault in FAULTS:
            _post(box, "/__sandbox/faults", {**fault, "count": 10**6})
        for _ in range(kills):
            proc = _worker(box, config)
            time.sleep(rng.uniform(0.3, 3.0))
            result.runs += 1
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                result.kills += 1
            proc.wait(timeout=60)
        # runs under the same faults, none killed: how many complete (exit 0)?
        for _ in range(steady_runs):
            result.runs += 1
            result.steady_runs += 1
            result.steady_exits[_worker(box, config).wait(timeout=900)] += 1
        # the faults stay armed: restarts go on until one cycle completes despite them
        for _ in range(max_clean_tries if not result.steady_completed else 0):
            result.runs += 1
            proc = _worker(box, config)
            if proc.wait(timeout=900) == 0:
                break
        result.faults_injected = sum(1 for r in _log(box) if r.get("fault"))
        requests.delete(f"{box.url}/__sandbox/faults", timeout=30)
        # tickets deferred for now wait out their pause: the clock moves past the last one
        _wait_out_deferrals(box, work / "chaos.db")
        result.runs += 1
        _worker(box, config).wait(timeout=900)  # a last, quiet cycle: it must find nothing to do
        result.deferred = _deferred_count(work / "chaos-audit.jsonl")
        result.api_calls = sum(1 for r in _log(box) if not r["path"].startswith("/__sandbox"))
        _check(box, expected, result)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _wait_out_deferrals(box: Sandbox, state: Path) -> None:
    """Move the sandbox's clock (and so the next worker's) past every deferred ticket's pause."""
    db = sqlite3.connect(state)
    try:
        rows = db.execute("SELECT detail FROM ledger WHERE state = 'intent'").fetchall()
    finally:
        db.close()
    pauses = [json.loads(detail).get("retry_after") for (detail,) in rows]
    latest = max((datetime.fromisoformat(p) for p in pauses if p), default=None)
    if latest is not None and latest > box.store.clock.now():
        box.store.clock.offset += latest - box.store.clock.now() + timedelta(seconds=1)


def _deferred_count(audit: Path) -> int:
    """How many times a ticket was deferred, over every run (the audit log's records)."""
    if not audit.exists():
        return 0
    lines = audit.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if '"outcome": "deferred"' in line)


def _post(box: Sandbox, path: str, body: dict[str, Any]) -> None:
    """POST to the sandbox's admin API."""
    requests.post(f"{box.url}{path}", json=body, timeout=30).raise_for_status()


def _log(box: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's request log."""
    got: list[dict[str, Any]] = requests.get(f"{box.url}/__sandbox/requests", timeout=60).json()
    return got


def _worker(box: Sandbox, config: Path) -> subprocess.Popen[bytes]:
    """`esc-sync run --once` as its own process, on the sandbox's clock."""
    stamp = box.store.clock.now().isoformat()
    env = {**os.environ, "ESC_SYNC_CHAOS_TOKEN": TOKEN, NOW_VARIABLE: stamp}
    return subprocess.Popen(
        [sys.executable, "-m", "esc_sync", "run", "--config", str(config), "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _check(box: Sandbox, expected: dict[int, dict[str, Any]], result: ChaosResult) -> None:
    """Compare the helpdesk's final state with the seed's expectations."""
    store = box.store
    with store.lock:
        tickets = list(store.tickets.values())
    tasks = Counter(t.external_id or "" for t in tickets)
    result.duplicate_tasks = sorted(
        ext for ext, n in tasks.items() if n > 1 and ext.startswith("esc-sync:")
    )
    for ticket in tickets:
        want = expected.get(ticket.id)
        if want is None:
            continue
        markers = Counter(
            word
            for c in ticket.comments
            if not c.public
            for word in c.body.split()
            if word.startswith("esc-sync:")
        )
        result.duplicates += [f"{ticket.id}:{m}" for m, n in markers.items() if n > 1]
        if not want["rules"]:
            if markers or any(tag.startswith("esc-") for tag in ticket.tags):
                result.decoys_touched.append(ticket.id)
            continue
        for rule in want["rules"]:
            if not any(m.startswith(f"esc-sync:{rule}:") for m in markers):
                result.misses.append(f"{ticket.id}:{rule}")
        if want.get("tier") and GROUP_TIERS.get(ticket.group_id or 0) != want["tier"]:
            result.wrong_tier.append(ticket.id)


@dataclass
class DrainResult:
    """How many polls a backlog took to drain under a steady share of faults."""

    tickets: int = 0
    fault_rate: float = 0.0
    cycles: int = 0
    completed_cycles: int = 0  # runs that exited 0
    deferred: int = 0
    faults_injected: int = 0
    drained: bool = False
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def run_drain(
    work: Path,
    rules: Path,
    *,
    tickets: int = 1000,
    fault_rate: float = 0.2,
    dialect: str = "zendesk",
    poll: timedelta = timedelta(seconds=30),
    max_cycles: int = 30,
    now: datetime | None = None,
) -> DrainResult:
    """A backlog of `tickets` under `fault_rate` faults (the chaos mix, scaled), drained by
    `run --once` every `poll` of sandbox time (the daemon's rhythm) until every expected
    escalation is on the helpdesk and the ledger holds nothing open."""
    result = DrainResult(tickets=tickets, fault_rate=fault_rate)
    started = time.monotonic()
    scale = fault_rate / sum(f["rate"] for f in FAULTS)
    with Sandbox(
        port=0,
        token=TOKEN,
        tickets=tickets,
        recent_window=0,
        incremental_limit=100000,
        account_limit=1000000,
        now=now,
        dialect=dialect,
    ) as box:
        (work / "sandbox.toml").write_text(profile_text(dialect, box.url, 1000))
        config = work / "config.toml"
        config.write_text(CONFIG.format(rules=rules.resolve().as_posix(), work=work.as_posix()))
        expected = {
            int(k): v
            for k, v in requests.get(f"{box.url}/__sandbox/expectations", timeout=30).json().items()
        }
        for fault in FAULTS:
            _post(
                box, "/__sandbox/faults", {**fault, "rate": fault["rate"] * scale, "count": 10**6}
            )
        while result.cycles < max_cycles:
            result.cycles += 1
            if _worker(box, config).wait(timeout=1800) == 0:
                result.completed_cycles += 1
            check = ChaosResult()
            _check(box, expected, check)
            if not check.misses and not _open_intents(work / "chaos.db"):
                result.drained = True
                break
            box.store.clock.offset += poll
        result.faults_injected = sum(1 for r in _log(box) if r.get("fault"))
        final = ChaosResult()
        _check(box, expected, final)
        result.misses, result.duplicates = final.misses, final.duplicates + final.duplicate_tasks
    result.deferred = _deferred_count(work / "chaos-audit.jsonl")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _open_intents(state: Path) -> int:
    """Ledger entries still open (work announced but not settled)."""
    db = sqlite3.connect(state)
    try:
        return int(db.execute("SELECT COUNT(*) FROM ledger WHERE state = 'intent'").fetchone()[0])
    finally:
        db.close()
