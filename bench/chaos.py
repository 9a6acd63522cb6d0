"""The long chaos run: `python bench/chaos.py --tickets 5000 --kills 20 [--json]`.

Prints tickets, faults injected, kills, duplicates (must be 0), misses (must be 0) and the API
calls used. See `tests/chaos.py` for what is injected.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

from tests.chaos import run_chaos, run_drain  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run once and print the figures."""
    parser = argparse.ArgumentParser(description="chaos run against the sandbox")
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dialect", choices=["zendesk", "freshdesk"], default="zendesk")
    parser.add_argument("--steady", type=int, default=10, help="runs under faults, not killed")
    parser.add_argument(
        "--drain",
        type=float,
        nargs="*",
        metavar="RATE",
        help="instead: how many 30 s polls a backlog of --tickets takes to drain at each fault "
        "rate (e.g. --drain 0.05 0.2)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.drain:
        return drain(args)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_chaos(
            Path(tmp),
            ROOT / "rules",
            tickets=args.tickets,
            kills=args.kills,
            seed=args.seed,
            page_size=1000,
            dialect=args.dialect,
            steady_runs=args.steady,
        )
    figures = {
        "tickets": result.tickets,
        "expected_escalations": result.expected_escalations,
        "faults_injected": result.faults_injected,
        "runs": result.runs,
        "kills": result.kills,
        "duplicates": len(result.duplicates) + len(result.duplicate_tasks),
        "misses": len(result.misses),
        "wrong_tier": len(result.wrong_tier),
        "decoys_touched": len(result.decoys_touched),
        "api_calls": result.api_calls,
        "steady_runs": result.steady_runs,
        "steady_completed": result.steady_completed,
        "steady_exit_codes": dict(result.steady_exits),
        "tickets_deferred": result.deferred,
        "seconds": result.seconds,
    }
    if args.json:
        print(json.dumps({**figures, "details": dataclasses.asdict(result)}, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0 if result.clean else 1


def drain(args: argparse.Namespace) -> int:
    """The backlog drain figures, one row per fault rate."""
    rows = []
    for rate in args.drain:
        with tempfile.TemporaryDirectory() as tmp:
            found = run_drain(
                Path(tmp), ROOT / "rules", tickets=args.tickets, fault_rate=rate,
                dialect=args.dialect,
            )
        rows.append(dataclasses.asdict(found))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        keys = ("tickets", "fault_rate", "cycles", "completed_cycles", "deferred",
                "faults_injected", "drained", "seconds")
        print(" | ".join(f"{k:>16}" for k in keys))
        for row in rows:
            print(" | ".join(f"{row[k]!s:>16}" for k in keys))
            if row["misses"] or row["duplicates"]:
                print(f"  misses {row['misses'][:10]} duplicates {row['duplicates'][:10]}")
    ok = all(r["drained"] and not r["misses"] and not r["duplicates"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.channels import default_channels

    with default_channels():  # the default policy's channels need their addresses
        sys.exit(main())
