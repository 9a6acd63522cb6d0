"""Memory: peak RSS of one `esc-sync run --once` over 10k and 200k changed tickets.

    python bench/memory.py [--tickets 10000 200000] [--json]

Each size gets a fresh sandbox (in this process) and a fresh state; the worker runs as a child
process whose own peak RSS (`ru_maxrss` of that child alone) is reported, with the pages read
and the wall time. Reading is streamed page by page, so the peak should barely grow with N
(goal: within 1.5x between 10k and 200k, under 200 MB). No share is tagged to escalate: the
writes are the seed's own scenarios, so the figure is about reading and deciding.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
CHILD = """
import resource, runpy, sys
sys.argv = ["esc-sync", *sys.argv[2:]]
try:
    runpy.run_module("esc_sync", run_name="__main__")
finally:
    with open({rss!r}, "w") as out:
        out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def measure(count: int) -> dict[str, Any]:
    """One cold cycle over N tickets; the child's own peak RSS."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            token=TOKEN,
            tickets=count,
            recent_window=0,
            incremental_limit=1_000_000,
            account_limit=10_000_000,
        ) as box,
    ):
        config = write_demo_config(Path(tmp), box.url, ROOT / "rules", "zendesk")
        rss_file = Path(tmp) / "rss"
        code = CHILD.format(rss=str(rss_file))
        env = {**os.environ, "ESC_SYNC_DEMO_TOKEN": TOKEN}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, "-", "run", "--config", str(config), "--once"],
            capture_output=True,
            text=True,
            env=env,
            timeout=7200,
            check=False,
        )
        wall = time.perf_counter() - started
        log = [e for e in box.store.requests_snapshot() if not e["path"].startswith("/__")]
        feed = sum(1 for e in log if e["path"].endswith("incremental/tickets/cursor.json"))
        return {
            "tickets": count,
            "exit": done.returncode,
            "wall_s": round(wall, 1),
            "feed_pages": feed,
            "api_calls": len(log),
            "peak_rss_mb": round(int(rss_file.read_text()) / 1024, 1)
            if rss_file.exists()
            else None,
        }


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a table (or JSON) with the ratio of the peaks."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(n) for n in args.tickets]
    peaks = [r["peak_rss_mb"] for r in rows if r["peak_rss_mb"]]
    summary = {
        "rows": rows,
        "ratio_max_over_min": round(max(peaks) / min(peaks), 2) if peaks else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        keys = list(rows[0])
        print(" | ".join(f"{k:>12}" for k in keys))
        for row in rows:
            print(" | ".join(f"{row[k]!s:>12}" for k in keys))
        print(f"peak ratio (largest / smallest): {summary['ratio_max_over_min']}")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
