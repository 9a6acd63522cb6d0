"""Several workers on one PostgreSQL: kill the holder again and again, pause one past its lease,
and check that every escalation still lands exactly once.

Used by the test suite (bounded) and by `bench/ha.py` (longer, with figures). Three real
`esc-sync run` daemons share one PostgreSQL state and one sandbox helpdesk that injects the
chaos faults (20 % of requests). A feeder opens a new ticket asking for a manager every
`feed_every` seconds, so there is always work to take over. The holder of the connector's
lease (read from the `leases` table) is SIGKILLed and replaced by a fresh worker; once, the
holder is SIGSTOPped past its lease and resumed. Takeover time = from the holder's death to
the next helpdesk write by another worker. At the end every seeded expectation and every fed
ticket must hold each of its markers exactly once, with no duplicate task and no decoy
touched.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

from esc_sync.clock import NOW_VARIABLE
from esc_sync.sandbox import Sandbox
from tests.chaos import FAULTS, TOKEN, ChaosResult, _check, _log, _post, profile_text

CONFIG = """[worker]
rules = "{rules}"
state = "{state}"
audit_log = "{work}/ha-audit.jsonl"
poll_interval = "{poll}"
lease_ttl = "{ttl}"

[log]
format = "json"
level = "info"

{connectors}
"""
CONNECTOR = '[[connectors]]\nname = "{name}"\nprofile = "{profile}"\n'
WRITES = ("POST", "PUT", "DELETE")
# How long to wait for another worker's write after a kill or pause before calling the
# takeover failed (`inf`): far past any healthy takeover, so the figure is measured, not bounded.
TAKEOVER_WAIT = 90.0


@dataclass
class HaResult:
    """What a several-worker run did and found."""

    workers: int = 0
    kills: int = 0
    pauses: int = 0
    takeovers: list[float] = field(default_factory=list)  # seconds, one per kill or pause
    # seconds from each kill or pause until another worker holds the lease (its first write
    # comes after that worker's first cycle has read and planned its backlog)
    lease_takeovers: list[float] = field(default_factory=list)
    fed: int = 0
    api_calls: int = 0
    api_writes: int = 0
    faults_injected: int = 0
    calls_under_faults: int = 0  # API calls made while the faults were armed
    seconds: float = 0.0
    check: ChaosResult = field(default_factory=ChaosResult)
    fed_misses: list[int] = field(default_factory=list)
    fed_duplicates: list[int] = field(default_factory=list)
    lease_lost_logged: int = 0

    @property
    def clean(self) -> bool:
        """Nothing duplicated, nothing missed."""
        return self.check.clean and not self.fed_misses and not self.fed_duplicates


class Fleet:
    """The worker processes of one run, by worker id."""

    def __init__(self, work: Path, config: Path, box: Sandbox, pg_env: dict[str, str]) -> None:
        self.work, self.config, self.box, self.pg_env = work, config, box, pg_env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.generation = 0

    def start(self) -> str:
        """Start one more worker; its id."""
        self.generation += 1
        wid = f"w{self.generation}"
        env = {
            **os.environ,
            **self.pg_env,
            "ESC_SYNC_CHAOS_TOKEN": TOKEN,
            "ESC_SYNC_WORKER__WORKER_ID": wid,
            NOW_VARIABLE: self.box.store.clock.now().isoformat(),
        }
        log = (self.work / f"{wid}.log").open("wb")
        self.procs[wid] = subprocess.Popen(
            [sys.executable, "-m", "esc_sync", "run", "--config", str(self.config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        return wid

    def stop_all(self) -> None:
        """SIGTERM every worker still running (a paused one is resumed first)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def holder(url: str, connector: str) -> str | None:
    """The worker holding a connector's live lease."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT holder FROM leases WHERE connector = %s AND expires_at > clock_timestamp()",
            (connector,),
        ).fetchone()
    return str(row[0]) if row and row[0] else None


def wait_for_holder(
    url: str, connector: str, timeout: float = 60.0, other_than: str | None = None
) -> str:
    """Wait until some worker (other than `other_than`) holds the connector."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            who = holder(url, connector)
        except psycopg.Error:
            who = None  # the schema may not exist yet
        if who and who != other_than:
            return who
        time.sleep(0.1)
    raise TimeoutError(f"no worker took {connector} within {timeout} s")


def write_config(
    work: Path, rules: Path, state: str, names: list[str], poll: str, ttl: str
) -> Path:
    """The workers' shared config."""
    connectors = "\n".join(
        CONNECTOR.format(name=name, profile=f"{name}.toml") for name in names
    )
    config = work / "config.toml"
    config.write_text(
        CONFIG.format(
            rules=rules.resolve().as_posix(),
            state=state,
            work=work.as_posix(),
            poll=poll,
            ttl=ttl,
            connectors=connectors,
        )
    )
    return config


def run_ha(
    work: Path,
    rules: Path,
    state: str,
    pg_env: dict[str, str],
    *,
    workers: int = 3,
    kills: int = 3,
    pauses: int = 1,
    tickets: int = 64,
    feed_every: float = 0.5,
    poll: str = "2s",
    ttl: str = "3s",
    seed: int = 5,
    now: datetime | None = None,
    faults: bool = True,
    feed_total: int | None = None,
) -> HaResult:
    """One run in `work` against a fresh sandbox and the (empty) PostgreSQL state `state`.

    The feeder opens a ticket every `feed_every` seconds until the events are over, or
    exactly `feed_total` tickets when given (to compare runs on the same work)."""
    rng = random.Random(seed)
    result = HaResult(workers=workers)
    started = time.monotonic()
    with Sandbox(
        port=0,
        token=TOKEN,
        tickets=tickets,
        recent_window=0,
        incremental_limit=100000,
        account_limit=1000000,
        now=now,
        dialect="zendesk",
    ) as box:
        (work / "sandbox.toml").write_text(profile_text("zendesk", box.url, 100))
        config = write_config(work, rules, state, ["sandbox"], poll, ttl)
        expected = {
            int(k): v
            for k, v in requests.get(f"{box.url}/__sandbox/expectations", timeout=30).json().items()
        }
        requester = int(
            requests.get(f"{box.url}/__sandbox/tickets/1", timeout=10).json()["ticket"][
                "requester_id"
            ]
        )
        if faults:
            for fault in FAULTS:
                _post(box, "/__sandbox/faults", {**fault, "count": 10**6})
        fleet = Fleet(work, config, box, pg_env)
        fed: list[int] = []
        feeding = threading.Event()
        feeding.set()

        def feed() -> None:
            n = 0
            while feeding.is_set() and (feed_total is None or n < feed_total):
                n += 1
                got = requests.post(
                    f"{box.url}/__sandbox/tickets",
                    json={
                        "ticket": {
                            "subject": f"Order {n} still missing",
                            "comment": {"body": f"Order {n}: I want to speak to a manager."},
                            "requester_id": requester,
                        }
                    },
                    timeout=10,
                )
                fed.append(int(got.json()["ticket"]["id"]))
                time.sleep(feed_every)

        try:
            for _ in range(workers):
                fleet.start()
            wait_for_holder(state, "sandbox")
            _wait_for_seed(box, expected, timeout=240.0)  # takeovers are measured in steady state
            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            time.sleep(3.0)
            events = ["kill"] * kills + ["pause"] * pauses
            rng.shuffle(events)
            for event in events:
                who = wait_for_holder(state, "sandbox")
                proc = fleet.procs[who]
                at = box.store.clock.now()
                started_event = time.monotonic()
                if event == "kill":
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)
                    result.kills += 1
                    fleet.start()  # a replacement, so the fleet stays at `workers`
                else:
                    proc.send_signal(signal.SIGSTOP)
                    result.pauses += 1
                result.lease_takeovers.append(
                    _other_holder(state, who, started_event, timeout=TAKEOVER_WAIT)
                )
                result.takeovers.append(_next_write_after(box, at, timeout=TAKEOVER_WAIT))
                if event == "pause":
                    time.sleep(rng.uniform(0.5, 2.0))
                    proc.send_signal(signal.SIGCONT)  # it resumes believing it holds the lease
                time.sleep(rng.uniform(1.0, 3.0))
            if feed_total is not None:  # the same work as another run: wait for all of it
                feeder.join(timeout=feed_total * feed_every * 4 + 60)
            feeding.clear()
            feeder.join(timeout=30)
            if faults:
                requests.delete(f"{box.url}/__sandbox/faults", timeout=30)
                result.calls_under_faults = sum(
                    1 for r in _log(box) if not r["path"].startswith("/__sandbox")
                )
            _settle(box, fed, timeout=120.0)
        finally:
            feeding.clear()
            fleet.stop_all()
        log = _log(box)
        result.api_calls = sum(1 for r in log if not r["path"].startswith("/__sandbox"))
        result.api_writes = sum(
            1 for r in log if r["method"] in WRITES and not r["path"].startswith("/__sandbox")
        )
        result.faults_injected = sum(1 for r in log if r.get("fault"))
        result.fed = len(fed)
        result.check.tickets = len(expected)
        result.check.expected_escalations = sum(len(v["rules"]) for v in expected.values())
        _check(box, expected, result.check)
        _check_fed(box, fed, result)
    # a worker learns it lost a lease in mid-cycle (its writes refused) or at its next balance
    result.lease_lost_logged = sum(
        text.count("lease lost") + text.count('"gave_up": ["sandbox"]')
        for text in (p.read_text(errors="replace") for p in work.glob("w*.log"))
    )
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _other_holder(url: str, was: str, since: float, timeout: float) -> float:
    """Seconds from `since` (monotonic) until a worker other than `was` holds the lease."""
    try:
        wait_for_holder(url, "sandbox", timeout - (time.monotonic() - since), other_than=was)
    except TimeoutError:
        return float("inf")
    return round(time.monotonic() - since, 2)


def _next_write_after(box: Sandbox, at: datetime, timeout: float) -> float:
    """Seconds from `at` (sandbox clock) to the first helpdesk write the log shows after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in _log(box):
            if entry["method"] not in WRITES or entry["path"].startswith("/__sandbox"):
                continue
            when = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
            if when > at and not entry.get("fault"):
                return round((when - at).total_seconds(), 2)
        time.sleep(0.2)
    return float("inf")


def _wait_for_seed(box: Sandbox, expected: dict[int, dict[str, Any]], timeout: float) -> None:
    """Wait until the seeded escalations are on the helpdesk: the first sync is behind us."""
    deadline = time.monotonic() + timeout
    wanted = [tid for tid, want in expected.items() if want["rules"]]
    while time.monotonic() < deadline:
        if all(_markers(box, tid) for tid in wanted):
            return
        time.sleep(0.5)


def _settle(box: Sandbox, fed: list[int], timeout: float) -> None:
    """Wait until every fed ticket carries the worker's marker (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_markers(box, tid) for tid in fed):
            time.sleep(3.0)  # a last cycle or two, to catch anything written twice late
            return
        time.sleep(0.5)


def _markers(box: Sandbox, ticket_id: int) -> Counter[str]:
    with box.store.lock:
        ticket = box.store.tickets[ticket_id]
        return Counter(
            word
            for c in ticket.comments
            if not c.public
            for word in c.body.split()
            if word.startswith("esc-sync:")
        )


def _check_fed(box: Sandbox, fed: list[int], result: HaResult) -> None:
    for tid in fed:
        markers = _markers(box, tid)
        if not any(m.startswith("esc-sync:manager-request:") for m in markers):
            result.fed_misses.append(tid)
        if any(n > 1 for n in markers.values()):
            result.fed_duplicates.append(tid)


def summary(result: HaResult) -> dict[str, Any]:
    """The figures of a run, for printing."""
    finite = sorted(t for t in result.takeovers if t != float("inf"))
    return {
        "workers": result.workers,
        "kills": result.kills,
        "pauses": result.pauses,
        "takeover_seconds": result.takeovers,
        "takeover_max": max(result.takeovers) if result.takeovers else None,
        "takeover_median": finite[len(finite) // 2] if finite else None,
        "lease_takeover_seconds": result.lease_takeovers,
        "lease_takeover_max": max(result.lease_takeovers) if result.lease_takeovers else None,
        "fed_tickets": result.fed,
        "duplicates": result.check.duplicates + result.check.duplicate_tasks
        + [str(t) for t in result.fed_duplicates],
        "misses": result.check.misses + [str(t) for t in result.fed_misses],
        "decoys_touched": result.check.decoys_touched,
        "api_calls": result.api_calls,
        "api_writes": result.api_writes,
        "faults_injected": result.faults_injected,
        "calls_under_faults": result.calls_under_faults,
        "lease_lost_logged": result.lease_lost_logged,
        "seconds": result.seconds,
    }
