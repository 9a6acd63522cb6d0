"""Crashes inside page transactions, at chosen points; a restart finishes the work, once.

Writes are batched into one transaction per page (`page_writes`): a page's mirror rows, a bulk
batch's intents and job outcomes, the due index of a settled batch. Here the real worker
(`esc-sync run --once`, a child process against the sandbox helpdesk, as in `tests/chaos.py`)
SIGKILLs itself at a chosen step inside such a transaction (`tests/killpoints.py`): after some
but not all of its rows are written, just before its commit (on PostgreSQL: after the lease
fence, the last statement before COMMIT), and between a bulk job landing on the helpdesk and
the commit of its ledger rows. Each scenario is a short chain of such kills, each restart dying
at the next point; then the worker is restarted until a cycle completes and one more finds
nothing to write.

After every kill: nothing is on the helpdesk twice, no decoy is touched, and the bookmark is
not past unapplied work (an expected escalation missing from the helpdesk is ahead of the
bookmark in the feed, or announced by an open intent that recovery settles). At the end: the
chaos harness's checks (every expected escalation exactly once, in its tier, no duplicate task,
no decoy touched), no intent left open, and the helpdesk and the state equal to those of
an uncrashed worker's (markers, tags, groups, tasks; every ledger key and its state, the tier
entries, which tickets are mirrored and which are in the due index). On SQLite, and on
PostgreSQL when a test server runs (`tests/pg.py`); the later-cycle case on SQLite only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.clock import NOW_VARIABLE
from esc_sync.sandbox import Sandbox
from esc_sync.sandbox.api import decode_cursor
from esc_sync.state.open import open_store
from tests.chaos import CONFIG, TOKEN, ChaosResult, _check, profile_text
from tests.frozen import FROZEN
from tests.killpoints import LOG_VARIABLE
from tests.pg import fresh_database, pg_server

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
KILLPOINTS = Path(__file__).resolve().parents[1] / "killpoints.py"
CONNECTOR = "sandbox"
WORKER_ID = "crash-in-page"  # the same id after a restart: it takes its own lease back at once
RUNS_TO_QUIET = 5  # restarts allowed until a cycle completes and the next writes nothing

# The first cycle reads one page of 58 tickets; 29 need escalation, written in bulk jobs
# (updates, replies, tasks) before the batch is settled. The counts (N) are deterministic. Once
# a bulk job has landed, a restart settles its tickets through recovery (single writes): a
# chain holds at most one such point. The due index is written again by every restart.
SCENARIOS: dict[str, list[str]] = {
    # half a page's mirror rows; the batch's intents announced, not committed; the update job
    # landed on the helpdesk with half its ledger rows written; half the due index written
    "half-written": [
        "_process_page/observe/30",
        "run/commit/1",
        "_updates/record_done/15",
        "_settle/set_due/30",
    ],
    # every mirror row written, not committed; a bulk job submitted and its id written into
    # the intents, not committed; the whole due index written, not committed
    "before-commit": ["_process_page/commit/1", "_mark/commit/1", "_settle/commit/1"],
    # the task jobs landed on the helpdesk, half their ledger rows written
    "tasks-landed": ["_tasks/record_done/76"],
}
# A second cycle after a clean first one (the bookmark set), with three new tickets asking
# for a manager at the end of the feed (too few for bulk jobs: written one by one): most of its
# page mirrored; the second ticket's update landed, its ledger rows and tier entry written but
# not committed; the due index written, not committed.
NEXT_CYCLE = ["_process_page/observe/30", "landed/commit/2", "_settle/commit/1"]
NEW_TICKETS = 3


def on_postgres(point: str) -> str:
    """PostgreSQL's last moment before a commit is after the lease fence (the lease row is
    locked then): there the `commit` points die after the fence."""
    site, step, nth = point.split("/")
    return f"{site}/{'fence' if step == 'commit' else step}/{nth}"


@dataclass
class Backend:
    """Where a scenario's state lives: a SQLite file or a fresh PostgreSQL database."""

    url: str
    env: dict[str, str]


@contextmanager
def sqlite(work: Path) -> Iterator[Backend]:
    yield Backend(f"sqlite:///{work.as_posix()}/state.db", {})


@contextmanager
def postgres(work: Path) -> Iterator[Backend]:
    server = pg_server()
    with fresh_database() as url:
        yield Backend(url, server.env())


BACKENDS = {"sqlite": sqlite, "postgres": postgres}


def sandbox() -> Sandbox:
    """The chaos harness's helpdesk, without faults, on the suite's frozen clock."""
    return Sandbox(
        port=0,
        token=TOKEN,
        tickets=64,
        recent_window=0,
        incremental_limit=100000,
        account_limit=1000000,
        now=FROZEN,
    )


class Run:
    """One helpdesk and one state, and the workers started against them."""

    def __init__(self, work: Path, box: Sandbox, backend: Backend) -> None:
        self.work, self.box, self.backend = work, box, backend
        (work / "sandbox.toml").write_text(profile_text("zendesk", box.url, 1000))
        text = CONFIG.format(rules=RULES.as_posix(), work=work.as_posix())
        text = re.sub(r'^state = ".*"$', f'state = "{backend.url}"', text, flags=re.M)
        self.config = work / "config.toml"
        self.config.write_text(text)
        self.runs = 0
        got = requests.get(f"{box.url}/__sandbox/expectations", timeout=30).json()
        self.expected: dict[int, dict[str, Any]] = {int(k): v for k, v in got.items()}
        self.seeded = sorted(self.expected)

    def worker(self, point: str = "-") -> tuple[int, list[str]]:
        """`esc-sync run --once`, killed at `point` (`-`: not killed): its exit code and the
        page-transaction steps it passed."""
        self.runs += 1
        steps = self.work / f"steps-{self.runs}.log"
        env = {
            **os.environ,
            **self.backend.env,
            "ESC_SYNC_CHAOS_TOKEN": TOKEN,
            "ESC_SYNC_WORKER__WORKER_ID": WORKER_ID,
            NOW_VARIABLE: self.box.store.clock.now().isoformat(),
            LOG_VARIABLE: str(steps),
            "PYTHONHASHSEED": "0",
        }
        command = [sys.executable, str(KILLPOINTS), point, "run", "--config", str(self.config)]
        proc = subprocess.run(
            [*command, "--once"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
        if proc.returncode not in (0, -9):
            print(proc.stderr.decode(errors="replace")[-3000:])
        passed = steps.read_text().splitlines() if steps.exists() else []
        return proc.returncode, passed

    def kill_at(self, point: str) -> None:
        """A worker killed at `point`; then the helpdesk and the bookmark are checked."""
        code, passed = self.worker(point)
        site, step, nth = point.split("/")
        assert code == -9, f"{point}: the worker was not killed there (exit {code})"
        assert passed[-1] == f"{site}/{step}", f"{point}: died after {passed[-1:]}"
        assert passed.count(f"{site}/{step}") == int(nth), point
        check = ChaosResult()
        _check(self.box, self.expected, check)
        assert (check.duplicates, check.duplicate_tasks, check.decoys_touched) == ([], [], []), (
            point
        )
        state = self.state()
        pending = {e.ticket_id for e in state["open"]}
        assert behind_bookmark(self.box, state["bookmark"], check.misses, pending) == [], point

    def settle(self) -> None:
        """Restart until a cycle completes and the next one writes nothing to the helpdesk."""
        code = None
        for _ in range(RUNS_TO_QUIET):
            before = helpdesk_writes(self.box)
            code, _ = self.worker()
            if code == 0 and helpdesk_writes(self.box) == before:
                return
        raise AssertionError(f"no quiet cycle after {self.runs} runs (last exit {code})")

    def state(self) -> dict[str, Any]:
        """The state as the store's protocol reads it, for the expected tickets."""
        store = open_store(self.backend.url, worker_id="crash-in-page-reader")
        try:
            ledger: dict[int, dict[str, str]] = {}
            tiers: dict[int, str] = {}
            for tid in self.expected:
                episode = store.episode(CONNECTOR, tid)
                entries = store.ledger(CONNECTOR, tid, episode)
                ledger[tid] = {k: e.state for k, e in entries.items()}
                entry = store.active_entry(CONNECTOR, tid)
                if entry is not None:
                    tiers[tid] = entry.tier
            far = self.box.store.clock.now() + timedelta(days=3650)
            return {
                "bookmark": store.bookmark(CONNECTOR),
                "open": store.open_intents(CONNECTOR),
                "ledger": ledger,
                "tiers": tiers,
                "due": sorted(store.due_tickets(CONNECTOR, far, limit=100_000)),
                "mirrored": [t for t in self.seeded if store.mirrored(CONNECTOR, t)],
            }
        finally:
            store.close()

    def finished_like(self, uncrashed: dict[str, Any]) -> dict[str, Any]:
        """The final checks; returns the state."""
        final = ChaosResult()
        _check(self.box, self.expected, final)
        assert final.clean, final
        state = self.state()
        assert state["open"] == []
        assert state["bookmark"] is not None
        assert helpdesk(self.box, self.seeded) == uncrashed["helpdesk"]
        seeded_due = [t for t in state["due"] if t in self.seeded]
        assert seeded_due == uncrashed["state"]["due"], "due index"
        for key in ("ledger", "tiers"):
            seeded = {t: v for t, v in state[key].items() if t in self.seeded}
            assert seeded == uncrashed["state"][key], key
        assert state["mirrored"] == uncrashed["state"]["mirrored"]
        return state


def helpdesk(box: Sandbox, seeded: list[int]) -> dict[str, Any]:
    """What the worker wrote on the helpdesk: markers, tags and group of each seeded ticket,
    and the follow-up tasks by external id."""
    with box.store.lock:
        tickets = list(box.store.tickets.values())
    by_id = {t.id: t for t in tickets}
    written = {
        tid: (
            sorted(
                w
                for c in by_id[tid].comments
                if not c.public
                for w in c.body.split()
                if w.startswith("esc-sync:")
            ),
            sorted(by_id[tid].tags),
            by_id[tid].group_id,
        )
        for tid in seeded
    }
    tasks = sorted(
        t.external_id
        for t in tickets
        if t.external_id
        and t.external_id.startswith("esc-sync:")
        and int(t.external_id.split(":")[2]) in seeded  # esc-sync:<connector>:<ticket>:…
    )
    return {"tickets": written, "tasks": tasks}


def helpdesk_writes(box: Sandbox) -> int:
    """Write requests the helpdesk answered so far."""
    return sum(1 for r in box.store.requests_snapshot() if r["method"] != "GET")


def behind_bookmark(
    box: Sandbox, bookmark: str | None, misses: list[str], pending: set[int]
) -> list[str]:
    """Expected escalations missing from the helpdesk that the bookmark has passed with no
    open intent to settle them: work no restart would come back to."""
    if bookmark is None:
        return []
    mark = decode_cursor(bookmark)
    out = []
    for miss in misses:
        ticket = box.store.tickets[int(miss.split(":")[0])]
        if (ticket.gen_us, ticket.id) <= mark and ticket.id not in pending:
            out.append(miss)
    return out


def open_manager_requests(box: Sandbox, count: int) -> list[int]:
    """New customers (no other ticket) each open a ticket asking for a manager."""
    ids = []
    for n in range(count):
        user = box.store.add_end_user(f"New Customer {n}", f"new.customer{n}@mail.example")
        body = {
            "subject": f"Refund {n}",
            "requester_id": user.id,
            "comment": {"body": "Please let me speak to a manager."},
        }
        got = requests.post(f"{box.url}/__sandbox/tickets", json={"ticket": body}, timeout=10)
        got.raise_for_status()
        ids.append(int(got.json()["ticket"]["id"]))
    return ids


@pytest.fixture(scope="module")
def uncrashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The helpdesk and the state once an uncrashed worker has nothing left to do (SQLite)."""
    work = tmp_path_factory.mktemp("uncrashed")
    with sandbox() as box, sqlite(work) as backend:
        run = Run(work, box, backend)
        run.settle()
        return {"helpdesk": helpdesk(box, run.seeded), "state": run.state()}


@pytest.mark.parametrize(("backend", "chain"), [(b, name) for b in BACKENDS for name in SCENARIOS])
def test_a_crash_inside_a_page_transaction_is_finished_once(
    tmp_path: Path, uncrashed: dict[str, Any], backend: str, chain: str
) -> None:
    points = SCENARIOS[chain]
    if backend == "postgres":
        points = [on_postgres(p) for p in points]
    with sandbox() as box, BACKENDS[backend](tmp_path) as store:
        run = Run(tmp_path, box, store)
        for point in points:
            run.kill_at(point)
        run.settle()
        run.finished_like(uncrashed)


def test_crashes_in_a_later_cycle_leave_the_bookmark_before_its_work(
    tmp_path: Path, uncrashed: dict[str, Any]
) -> None:
    with sandbox() as box, sqlite(tmp_path) as store:
        run = Run(tmp_path, box, store)
        assert run.worker()[0] == 0
        first = run.state()["bookmark"]
        assert first is not None
        new = open_manager_requests(box, NEW_TICKETS)
        run.expected.update({t: {"rules": ["manager-request"], "tier": "t2"} for t in new})
        for point in NEXT_CYCLE:
            run.kill_at(point)
            assert run.state()["bookmark"] == first, point  # not moved past the new tickets
        run.settle()
        state = run.finished_like(uncrashed)
        assert state["bookmark"] != first
        assert {t: state["tiers"].get(t) for t in new} == dict.fromkeys(new, "t2")
        assert set(new) <= set(state["due"])  # their ladder is scheduled


def reads_of_tickets(requests_seen: list[dict[str, Any]]) -> list[str]:
    """The single-ticket reads and task lookups among `requests_seen`: what recovery costs
    when it settles an intent by reading (it reads the ticket, then its comments; the cycle
    itself reads tickets only from the export, and comments after its own notes)."""
    single = re.compile(r"^/api/v2/tickets/\d+\.json$")
    return [
        f"{r['method']} {r['path']}?{r.get('query') or ''}"
        for r in requests_seen
        if r["method"] == "GET"
        and (single.match(r["path"]) or "external_id" in str(r.get("query") or ""))
    ]


@pytest.mark.parametrize("point", ["_updates/record_done/1", "_tasks/record_done/1"])
def test_a_restart_settles_landed_bulk_jobs_from_their_outcomes_without_reading(
    tmp_path: Path, uncrashed: dict[str, Any], point: str
) -> None:
    # killed after a bulk job landed and before any of its outcomes was recorded: every
    # ticket of the job has open intents naming the job, and the new process never saw the
    # submission (a task job's items are matched by the slot recorded in each intent)
    with sandbox() as box, sqlite(tmp_path) as store:
        run = Run(tmp_path, box, store)
        run.kill_at(point)
        pending = {e.ticket_id for e in run.state()["open"]}
        assert len(pending) >= 20, pending
        seen = len(box.store.requests_snapshot())

        assert run.worker()[0] == 0

        restart = box.store.requests_snapshot()[seen:]
        assert reads_of_tickets(restart) == []
        assert run.state()["open"] == []
        run.settle()
        run.finished_like(uncrashed)
