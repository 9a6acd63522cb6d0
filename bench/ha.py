"""Several workers on one PostgreSQL: `python bench/ha.py [--kills 10] [--pauses 1] [--json]`.

Needs the test server (`scripts/pg-up`). Prints, for three `esc-sync run` daemons under the
chaos faults (20 % of requests) with the lease holder killed `--kills` times and paused past its
lease `--pauses` times (see tests/ha.py):
- the takeover time of each event (from the holder's death or pause to the next helpdesk write
  by another worker), against the bound lease_ttl + poll_interval + 5 s, and the time until
  another worker held the lease (the rest is that worker's first cycle: recovery, the backlog's
  reads and planning);
- duplicates and misses (both must be 0);
- API calls, compared with one worker doing the same kind of work without kills or faults;
- the spread of 20 connector profiles (20 sandboxes) over 3 workers, and again after one of
  them is killed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

import psycopg  # noqa: E402

from esc_sync.durations import parse_duration  # noqa: E402
from esc_sync.sandbox import Sandbox  # noqa: E402
from tests.chaos import TOKEN, profile_text  # noqa: E402
from tests.ha import Fleet, run_ha, summary, write_config  # noqa: E402
from tests.pg import PgServer, _read_env  # noqa: E402

RULES = ROOT / "rules"


def new_database(server: PgServer) -> str:
    """A fresh database on the test server; its URL."""
    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name)


def spread(server: PgServer, work: Path, profiles: int, workers: int, ttl: str) -> dict[str, Any]:
    """`profiles` connectors (one sandbox each) over `workers` daemons: the spread, the time
    until every connector is held, and the same after one worker is killed."""
    state = new_database(server)
    names = [f"helpdesk-{n:02}" for n in range(profiles)]
    out: dict[str, Any] = {"profiles": profiles, "workers": workers}
    with ExitStack() as stack:
        boxes = [
            stack.enter_context(Sandbox(port=0, token=TOKEN, tickets=60, recent_window=0))
            for _ in names
        ]
        for name, box in zip(names, boxes, strict=True):
            (work / f"{name}.toml").write_text(profile_text("zendesk", box.url, 100))
        config = write_config(work, RULES, state, names, poll="2s", ttl=ttl)
        fleet = Fleet(work, config, boxes[0], server.env())
        started = time.monotonic()
        for _ in range(workers):
            fleet.start()
        try:
            out["first"] = _wait_spread(state, names, workers, started)
            victim = max(out["first"]["per_worker"], key=lambda w: out["first"]["per_worker"][w])
            fleet.procs[victim].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            after = _wait_spread(state, names, workers - 1, killed)
            out["after_kill"] = {"killed": victim, **after}
        finally:
            fleet.stop_all()
    return out


def _wait_spread(state: str, names: list[str], workers: int, since: float) -> dict[str, Any]:
    """Wait until every connector is held by one of `workers` live workers, evenly."""
    fair = -(-len(names) // workers)
    while time.monotonic() - since < 300:
        try:
            with psycopg.connect(state) as conn:
                rows = conn.execute(
                    "SELECT connector, holder FROM leases WHERE expires_at > clock_timestamp()"
                ).fetchall()
        except psycopg.Error:  # the first worker has not created the schema yet
            rows = []
        per = Counter(str(h) for _, h in rows if h)
        if len(rows) == len(names) and len(per) == workers and max(per.values()) <= fair:
            return {"seconds": round(time.monotonic() - since, 1), "per_worker": dict(per)}
        time.sleep(0.5)
    return {"seconds": None, "per_worker": {}}


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description="several workers on one PostgreSQL")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--pauses", type=int, default=1)
    parser.add_argument("--poll", default="2s")
    parser.add_argument("--ttl", default="10s")
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--parts", nargs="+", choices=["failover", "spread"], default=["failover", "spread"]
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    env = _read_env()
    if not env.get("PG_URL"):
        print("PostgreSQL is not running: run scripts/pg-up", file=sys.stderr)
        return 2
    server = PgServer(env["PG_URL"], env.get("PGPASSWORD", ""))
    os.environ.setdefault("PGPASSWORD", server.password)
    bound = (parse_duration(args.ttl) + parse_duration(args.poll)).total_seconds() + 5
    figures: dict[str, Any] = {"bound_seconds": bound}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "failover" in args.parts:
            failover(server, work, args, figures)
        if "spread" in args.parts:
            (work / "spread").mkdir()
            figures["spread"] = spread(server, work / "spread", args.profiles, 3, args.ttl)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print_figures(figures)
    return 0


def failover(
    server: PgServer, work: Path, args: argparse.Namespace, figures: dict[str, Any]
) -> None:
    """Kills and pauses under faults with three workers, then one worker on the same tickets."""
    (work / "ha").mkdir()
    ha = run_ha(
        work / "ha",
        RULES,
        new_database(server),
        server.env(),
        workers=3,
        kills=args.kills,
        pauses=args.pauses,
        poll=args.poll,
        ttl=args.ttl,
        seed=args.seed,
    )
    figures["several"] = summary(ha)
    print(json.dumps({"several": figures["several"]}), file=sys.stderr, flush=True)
    (work / "one").mkdir()
    one = run_ha(
        work / "one",
        RULES,
        new_database(server),
        server.env(),
        workers=1,
        kills=0,
        pauses=0,
        poll=args.poll,
        ttl=args.ttl,
        faults=False,
        seed=args.seed,
        feed_total=ha.fed,
    )
    figures["single"] = summary(one)
    print(json.dumps({"single": figures["single"]}), file=sys.stderr, flush=True)
    for key, run in (("several", ha), ("single", one)):
        work_items = run.check.expected_escalations + run.fed
        figures[key]["calls_per_escalation"] = round(run.api_calls / max(work_items, 1), 2)


def print_figures(figures: dict[str, Any]) -> None:
    """The figures as lines."""
    if "several" in figures:
        _print_failover(figures)
    if "spread" in figures:
        sp = figures["spread"]
        print(
            f"spread of {sp['profiles']} profiles over 3 workers: {sp['first']['per_worker']} "
            f"in {sp['first']['seconds']} s; after killing {sp['after_kill']['killed']}: "
            f"{sp['after_kill']['per_worker']} in {sp['after_kill']['seconds']} s"
        )


def _print_failover(figures: dict[str, Any]) -> None:
    bound = figures["bound_seconds"]
    several, single = figures["several"], figures["single"]
    print(f"takeover bound (lease_ttl + poll_interval + 5 s): {bound:.1f} s")
    print(
        f"takeovers to the next write ({several['kills']} kills, {several['pauses']} pauses): "
        f"median {several['takeover_median']} s, max {several['takeover_max']} s: "
        f"{several['takeover_seconds']}"
    )
    print(
        f"lease taken by another worker: max {several['lease_takeover_max']} s: "
        f"{several['lease_takeover_seconds']}"
    )
    print(
        f"duplicates {len(several['duplicates'])}, misses {len(several['misses'])}, decoys "
        f"touched {len(several['decoys_touched'])}; fed tickets {several['fed_tickets']}"
    )
    print(
        f"API calls: 3 workers under faults and kills {several['api_calls']} "
        f"({several['calls_per_escalation']} per escalation, {several['faults_injected']} "
        f"faults injected, {several['calls_under_faults']} calls made while they were armed); "
        f"1 worker, no faults, same tickets {single['api_calls']} "
        f"({single['calls_per_escalation']} per escalation)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.channels import default_channels

    with default_channels():  # the default policy's channels need their addresses
        raise SystemExit(main())
