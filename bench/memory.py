"""Memory: peak RSS of one `esc-sync run --once` over 10k and 200k changed tickets.

    python bench/memory.py [--tickets 10000 200000] [--json]

Each size gets a fresh sandbox (in this process) and a fresh state; the worker runs as a child
process whose own peak RSS is reported, with the pages read and the wall time.

The peak is the child's `VmHWM` (Linux: the high-water RSS of its own address space since
`exec`), not `ru_maxrss`: Linux carries the parent's high-water mark across `fork`/`vfork` +
`exec` into the child's `ru_maxrss`, and the parent here holds the whole sandbox (N tickets),
so `ru_maxrss` grew with N even when the worker did not. `ru_maxrss` is kept as a second
column for comparison (and is the fallback where `/proc` is missing).

Reading is streamed page by page, so the peak should barely grow with N (goal: within 1.5x
between 10k and 200k changed tickets, under 200 MB). The profile's `start` window is `--start`
(default 3650d): every seeded ticket is then a changed ticket in the feed (with the demo's
`30d`, most of a large sandbox is older and only a share of N is read: `tickets_read` says
how many were). No share is tagged to escalate: the
writes are the seed's own scenarios, so the figure is about reading and deciding.
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
    hwm = ""
    try:
        with open("/proc/self/status") as status:
            hwm = next((ln.split()[1] for ln in status if ln.startswith("VmHWM:")), "")
    except OSError:
        pass
    with open({rss!r}, "w") as out:
        out.write(f"{{hwm}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}")
    try:  # bytes this process sent to storage (write_bytes) and to write() calls (wchar)
        with open("/proc/self/io") as io, open({rss!r} + ".io", "w") as out:
            out.write(io.read())
    except OSError:
        pass
"""


def _io(path: Path) -> dict[str, int]:
    """The child's /proc/self/io counters as it wrote them at exit (empty when missing)."""
    io = path.with_name(path.name + ".io")
    if not io.exists():
        return {}
    pairs = (line.split(":", 1) for line in io.read_text().splitlines() if ":" in line)
    return {key.strip(): int(value) for key, value in pairs}


def measure(count: int, start: str = "3650d") -> dict[str, Any]:
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
        profile = Path(tmp) / "sandbox.toml"
        profile.write_text(
            re.sub(r'(?m)^start = ".*"$', f'start = "{start}"', profile.read_text()),
            encoding="utf-8",
        )
        rss_file = Path(tmp) / "rss"
        code = CHILD.format(rss=str(rss_file))
        # one whole cycle: the default 10-minute cycle deadline would stop a large one early
        env = {**os.environ, "ESC_SYNC_DEMO_TOKEN": TOKEN, "ESC_SYNC_WORKER__CYCLE_DEADLINE": "12h"}
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
        events = sum(1 for e in log if e["path"].endswith("incremental/ticket_events.json"))
        comments = sum(1 for e in log if e["path"].endswith("/comments.json"))
        read = re.search(r"read (\d+) tickets in (\d+) pages", done.stdout)
        hwm, maxrss = _peaks(rss_file)
        written = _io(rss_file).get("write_bytes")
        return {
            "tickets": count,
            "start": start,
            "tickets_read": int(read.group(1)) if read else None,
            "exit": done.returncode,
            "wall_s": round(wall, 1),
            "feed_pages": feed,
            "event_pages": events,
            "comment_reads": comments,
            "api_calls": len(log),
            "peak_rss_mb": hwm if hwm is not None else maxrss,
            "ru_maxrss_mb": maxrss,
            "written_mb": round(written / 2**20, 1) if written is not None else None,
        }


def _peaks(path: Path) -> tuple[float | None, float | None]:
    """(VmHWM, ru_maxrss) of the child in MB, as it wrote them (None when missing)."""
    if not path.exists():
        return None, None
    parts = path.read_text().split()
    if len(parts) == 1:
        parts = ["", *parts]
    hwm, maxrss = (round(int(p) / 1024, 1) if p else None for p in parts)
    return hwm, maxrss


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a table (or JSON) with the ratio of the peaks."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--start", default="3650d", help="the profile's start window")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(n, args.start) for n in args.tickets]
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
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.channels import default_channels

    with default_channels():  # the default policy's channels need their addresses
        sys.exit(main())
