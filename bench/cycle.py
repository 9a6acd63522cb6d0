"""Cycle cost: one `esc-sync run --once` against the sandbox holding N changed tickets.

    python bench/cycle.py [--tickets 1000 10000] [--share 0.1] [--modes bulk single]
                          [--state sqlite|postgresql] [--helpdesk zendesk|freshdesk]
                          [--comments 4] [--updates 0] [--length 240] [--steady 3 5] [--json]

Seeds the Zendesk-speaking sandbox with N tickets (incremental budget lifted, no recent-window
delay) and tags a share of the open ones `needs_approval`, so that exactly those (plus the
seed's own scenarios) need escalation. Then runs the real CLI once as a child process and
reports wall time, API calls by endpoint (from the sandbox's request log), calls per escalated
ticket, the lower bound of the mode, and the worker's own peak RSS (VmHWM, see memory.py).

Modes: `bulk` is the default worker config (a page with 20 or more tickets to write goes
through `update_many`/`create_many` jobs); `single` lifts the threshold so every ticket is
written alone. Lower bounds: feed pages plus, with single writes, one request per update,
reply and task; with bulk writes, one request per 100 updates, replies or tasks and one job
poll per wave of jobs.

Budgets (`budget.py`): requests by budget (Zendesk: the incremental exports apart from the
rest; Freshdesk: all, and the ticket and contact lists) and the budget-minutes the job needs at
each plan's published limits, for the first sync and for a steady hour (the `--steady` warm
cycles, each after a few tickets got a customer reply, extrapolated to 120 cycles of 30 s; the
cycle right after the first sync, which sees the sync's own writes come back, is shown apart).
Each cycle is a fresh `--once` process: what a daemon keeps in memory between cycles (the
connector's event scan) starts empty each time.
Disk: bytes the worker child wrote to storage (`/proc/<pid>/io` write_bytes) per ticket, next to
the state database's size per ticket. The sandbox's density (`--comments`, `--updates`,
`--length`) is the seed's `Density`: at least four comments a ticket by default.

`--state postgresql` keeps the worker's state in a fresh database on the test server
(`scripts/pg-up`) instead of a SQLite file: every state write is then fenced by the lease.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from budget import per_plan
from memory import CHILD  # the child wrapper that reports the worker's own peak (VmHWM)
from memory import _io as child_io
from memory import _peaks as peaks

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Density, Sandbox
from esc_sync.sandbox.writes import add_comment, update_ticket

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
PAGE = 1000  # tickets per page of the sandbox's cursor export
_ID = re.compile(r"/\d+(?=[/.]|$)")


def endpoint(entry: dict[str, Any]) -> str:
    """`METHOD /path` with ids replaced by `{id}`."""
    return f"{entry['method']} {_ID.sub('/{id}', entry['path'])}"


def tag_share(box: Sandbox, share: float) -> int:
    """Tag every k-th open ticket `needs_approval` (an escalation to t2); how many were tagged."""
    if share <= 0:
        return 0
    every = max(1, round(1 / share))
    tagged = 0
    with box.store.lock:
        for i, ticket in enumerate(sorted(box.store.tickets.values(), key=lambda t: t.id)):
            wanted = i % every == 0 and ticket.status not in ("solved", "closed")
            if wanted and "needs_approval" not in ticket.tags:
                ticket.tags.append("needs_approval")
                tagged += 1
    return tagged


def applied(audit: Path) -> tuple[int, int, int, int]:
    """From the audit log: tickets written, updates, replies and tasks among them."""
    tickets = updates = replies = tasks = 0
    for line in audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []:
        record = json.loads(line)
        if record.get("outcome") != "applied":
            continue
        tickets += 1
        made = (record.get("calls") or {}).get("made") or []
        updates += sum(1 for c in made if c.startswith("PUT") and "public reply" not in c)
        replies += sum(1 for c in made if "public reply" in c)
        tasks += sum(1 for c in made if c.startswith("POST task"))
    return tickets, updates, replies, tasks


def postgres_state() -> tuple[str, dict[str, str]]:
    """A fresh database on the test server: its URL and the environment that reaches it."""
    import uuid

    import psycopg

    sys.path.insert(0, str(ROOT))
    from tests.pg import PgServer, _read_env

    env = _read_env()
    if not env.get("PG_URL"):
        raise SystemExit("PostgreSQL is not running: run scripts/pg-up")
    server = PgServer(env["PG_URL"], env.get("PGPASSWORD", ""))
    name = "cycle_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.url, password=server.password, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name), server.env()


def run_once(
    tmp: Path, config: Path, env: dict[str, str], tag: str
) -> tuple[subprocess.CompletedProcess[str], float, dict[str, Any]]:
    """One `esc-sync run --once` in a child: its result, wall time, peak RSS and disk writes."""
    rss_file = tmp / f"rss-{tag}"
    code = CHILD.format(rss=str(rss_file))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, "-", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
        check=False,
    )
    wall = time.perf_counter() - started
    hwm, maxrss = peaks(rss_file)
    io = child_io(rss_file)
    return done, wall, {"peak_rss_mb": hwm if hwm is not None else maxrss, "io": io}


def calls_of(box: Sandbox) -> Counter[str]:
    """The sandbox's request log (its own hooks left out) by endpoint, then cleared."""
    log = [e for e in box.store.requests_snapshot() if not e["path"].startswith("/__")]
    box.store.clear_requests()
    return Counter(endpoint(e) for e in log)


def change_some(box: Sandbox, count: int, cycle: int, quiet: float = 0.0) -> None:
    """`count` open tickets change (spread over the ids, different each cycle): a `quiet`
    share of them is retagged by an agent (no comment), the rest get a customer reply."""
    with box.store.lock:
        open_ids = sorted(
            t.id for t in box.store.tickets.values() if t.status not in ("solved", "closed")
        )
        agent = next(u for u in box.store.users.values() if u.is_agent)
        step = max(1, len(open_ids) // max(count, 1))
        quiet_count = round(count * quiet)
        for k in range(count):
            ticket = box.store.tickets[open_ids[(k * step + cycle * 7) % len(open_ids)]]
            if k < quiet_count:
                tags = [*ticket.tags, f"triaged-{cycle}"]
                update_ticket(box.store, ticket.id, {"tags": tags}, agent)
            else:
                add_comment(box.store, ticket.id, ticket.requester_id, "Any news on this?", True)


def measure(
    count: int,
    share: float,
    mode: str = "bulk",
    state: str = "sqlite",
    density: Density | None = None,
    helpdesk: str = "zendesk",
    steady: tuple[int, int] = (0, 0),
    quiet: float = 0.0,
) -> dict[str, Any]:
    """One cold cycle over a fresh sandbox and state, then `steady` = (cycles, changed tickets
    per cycle) warm ones; their figures (a steady hour is 120 cycles of 30 s, extrapolated)."""
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        Sandbox(
            token=TOKEN,
            tickets=count,
            recent_window=0,
            incremental_limit=100_000,
            account_limit=1_000_000,
            dialect=helpdesk,
            density=density,
        ) as box,
    ):
        tmp = Path(tmp_name)
        tag_share(box, share)
        config = write_demo_config(tmp, box.url, ROOT / "rules", helpdesk)
        env = {**os.environ, "ESC_SYNC_DEMO_TOKEN": TOKEN}
        if mode == "single":
            env["ESC_SYNC_WORKER__BULK_THRESHOLD"] = str(10**9)
        if state == "postgresql":
            url, pg_env = postgres_state()
            env.update(pg_env, ESC_SYNC_WORKER__STATE=url)
        box.store.clear_requests()
        done, wall, child = run_once(tmp, config, env, "first")
        calls = calls_of(box)
        db = tmp / "demo.db"
        db_bytes = sum(p.stat().st_size for p in tmp.glob("demo.db*")) if db.exists() else None
        written = child["io"].get("write_bytes")
        escalated, updates, replies, tasks = applied(tmp / "demo-audit.jsonl")
        feed_endpoint = "GET /api/v2/incremental/tickets/cursor.json"
        feed = calls.get(feed_endpoint if helpdesk == "zendesk" else "GET /api/v2/tickets", 0)
        floor_pages = count // PAGE + 1
        if mode == "single":
            floor = floor_pages + updates + replies + tasks
        else:
            jobs = sum(-(-n // 100) for n in (updates, replies, tasks))
            floor = floor_pages + jobs + sum(1 for n in (updates, replies, tasks) if n)
        writes = sum(n for k, n in calls.items() if not k.startswith("GET"))
        polls = sum(n for k, n in calls.items() if "job_statuses" in k)
        total = sum(calls.values())
        budgets, minutes = per_plan(calls, helpdesk)
        row: dict[str, Any] = {
            "helpdesk": helpdesk,
            "tickets": count,
            "comments": sum(len(t.comments) for t in box.store.tickets.values()),
            "mode": mode,
            "state": state,
            "escalated": escalated,
            "exit": done.returncode,
            "wall_s": round(wall, 2),
            "api_calls": total,
            "calls_per_escalated": round(total / escalated, 2) if escalated else None,
            "writes_per_escalated": (round((writes + polls) / escalated, 3) if escalated else None),
            "feed_pages": feed,
            "lower_bound": floor,
            "peak_rss_mb": child["peak_rss_mb"],
            "written_kb_per_ticket": round(written / 1024 / count, 1) if written else None,
            "state_kb_per_ticket": round(db_bytes / 1024 / count, 1) if db_bytes else None,
            "budgets": budgets,
            "budget_minutes": minutes,
            "calls": dict(calls.most_common()),
        }
        cycles, changed = steady
        if cycles:
            # the first warm cycle sees the first sync's own writes come back in the feed
            run_once(tmp, config, env, "echo")
            row["echo_calls"] = dict(calls_of(box).most_common())
            warm: Counter[str] = Counter()
            for n in range(cycles):
                change_some(box, changed, n, quiet)
                run_once(tmp, config, env, f"warm{n}")
                warm.update(calls_of(box))
            hour = Counter({k: v * 120 / cycles for k, v in warm.items()})
            hour_budgets, hour_minutes = per_plan(hour, helpdesk)
            row["steady"] = {
                "cycles": cycles,
                "changed_per_cycle": changed,
                "quiet_share": quiet,
                "calls_per_cycle": {k: round(v / cycles, 2) for k, v in warm.most_common()},
                "hour_budgets": {k: round(v) for k, v in hour_budgets.items()},
                "hour_budget_minutes": hour_minutes,
            }
        return row


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument(
        "--modes", nargs="+", choices=["bulk", "single"], default=["bulk", "single"]
    )
    parser.add_argument("--state", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--helpdesk", choices=["zendesk", "freshdesk"], default="zendesk")
    parser.add_argument("--comments", type=int, default=4, help="at least this many a ticket")
    parser.add_argument("--updates", type=int, default=0, help="field changes a ticket")
    parser.add_argument("--length", type=int, default=240, help="characters of a padded note")
    parser.add_argument(
        "--steady",
        type=int,
        nargs=2,
        default=[3, 5],
        metavar=("CYCLES", "CHANGED"),
        help="warm cycles after the first sync and tickets changed before each (0 0: none)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.4,
        help="share of the steady changes made without a comment (an agent retags)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    density = Density(args.comments, args.updates, args.length)
    rows = [
        measure(
            n, args.share, mode, args.state, density, args.helpdesk, tuple(args.steady), args.quiet
        )
        for n in args.tickets
        for mode in args.modes
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    nested = ("calls", "budgets", "budget_minutes", "steady", "echo_calls")
    keys = [k for k in rows[0] if k not in nested]
    print(" | ".join(f"{k:>14}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k]!s:>14}" for k in keys))
    for row in rows:
        print(f"\n{row['tickets']} tickets ({row['mode']} writes), first sync:")
        print(f"  requests by budget: {row['budgets']}")
        print(f"  budget-minutes by plan: {row['budget_minutes']}")
        print("  requests by endpoint:")
        for name, n in row["calls"].items():
            print(f"  {n:>7}  {name}")
        if "echo_calls" in row:
            print(f"  the cycle after (its own writes come back): {row['echo_calls']}")
        if "steady" in row:
            steady = row["steady"]
            print(
                f"  steady: {steady['cycles']} cycles, {steady['changed_per_cycle']} changed "
                f"tickets each ({steady['quiet_share']:.0%} retagged without a comment); "
                f"per cycle {steady['calls_per_cycle']}"
            )
            print(f"  a steady hour (120 cycles): requests by budget {steady['hour_budgets']}")
            print(f"  a steady hour: budget-minutes by plan {steady['hour_budget_minutes']}")
    return 0 if all(row["exit"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.channels import default_channels

    with default_channels():  # the default policy's channels need their addresses
        sys.exit(main())
