"""Regenerate docs/report.png from a real run against the sandbox (needs chromium).

    .venv/bin/python docs/make_report_screenshot.py

A fresh sandbox; one live cycle; agents solve a few escalated tickets; a second cycle; then
`esc-sync report` and a headless Chromium screenshot of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
SOLVED = (18, 29, 36, 52, 59, 60)


def cli(*args: str) -> None:
    """Run the real CLI."""
    subprocess.run([sys.executable, "-m", "esc_sync", *args], check=True, capture_output=True)


def main() -> None:
    """Build the report and take the screenshot."""
    os.environ["ESC_SYNC_DEMO_TOKEN"] = "screenshot-token"
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(port=0, token="screenshot-token", recent_window=0) as box,
    ):
        work = Path(tmp)
        config = write_demo_config(work, box.url, ROOT / "rules")
        cli("run", "--config", str(config), "--once")
        for ticket in SOLVED:
            requests.put(
                f"{box.url}/__sandbox/tickets/{ticket}",
                json={"ticket": {"status": "solved"}},
                timeout=10,
            ).raise_for_status()
        cli("run", "--config", str(config), "--once")
        page = work / "report.html"
        cli("report", "--config", str(config), "--since", "14d", "--out", str(page))
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={work / 'profile'}",
                "--window-size=1000,2000",
                f"--screenshot={ROOT / 'docs' / 'report.png'}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(ROOT / "docs" / "report.png")


if __name__ == "__main__":
    main()
