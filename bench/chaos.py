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

from tests.chaos import run_chaos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run once and print the figures."""
    parser = argparse.ArgumentParser(description="chaos run against the sandbox")
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_chaos(
            Path(tmp),
            ROOT / "rules",
            tickets=args.tickets,
            kills=args.kills,
            seed=args.seed,
            page_size=1000,
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
        "seconds": result.seconds,
    }
    if args.json:
        print(json.dumps({**figures, "details": dataclasses.asdict(result)}, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
