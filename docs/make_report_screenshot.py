"""Regenerate docs/report.png from real runs against the sandbox (needs chromium).

    .venv/bin/python docs/make_report_screenshot.py

Four weeks of history: for each of the last four weeks a fresh sandbox helpdesk whose clock
reads a weekday of that week (`ESC_SYNC_NOW` for the worker), one live cycle, agents answer
some escalated tickets and solve a few, a second cycle; every week's connector writes to the
same state store and audit log. Then `esc-sync report` over 28 days and a headless Chromium
screenshot of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from esc_sync.sandbox.receivers import JsonReceiver

ROOT = Path(__file__).resolve().parents[1]
AGENT = 381000000002  # Priya, a frontline agent of the sandbox
# the tickets the shipped rules escalate in the seeded sandbox
ESCALATED = (9, 13, 17, 18, 27, 29, 34, 36, 38, 39, 41, 43, 44, 46, 48, 49, 51, 52, 53, 55, 56)


def answered(week: int) -> list[int]:
    """The tickets an agent answers soon after the escalation: most, not all."""
    return [t for i, t in enumerate(ESCALATED) if (i + week) % 4 != 0]


def solved(week: int) -> list[int]:
    """The tickets solved in the week: about a third."""
    return [t for i, t in enumerate(ESCALATED) if (i + week) % 3 == 0]


def cli(*args: str, at: datetime | None = None) -> None:
    """Run the real CLI, its clock reading `at` when given."""
    env = dict(os.environ)
    if at is not None:
        env["ESC_SYNC_NOW"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    done = subprocess.run(
        [sys.executable, "-m", "esc_sync", *args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"esc-sync {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def weekday_at_noon_in_new_york(day: datetime) -> datetime:
    """The same week's Tuesday, 15:00 UTC (10:00 in New York): inside business hours."""
    tuesday = day - timedelta(days=day.weekday() - 1)
    return tuesday.replace(hour=15, minute=0, second=0, microsecond=0)


def one_week(work: Path, week: int, at: datetime) -> Path:
    """A sandbox whose clock reads `at`, two live cycles with answers and solves between."""
    with Sandbox(port=0, token="screenshot-token", recent_window=0, now=at) as box:
        folder = work / f"week{week}"
        folder.mkdir()
        config = write_demo_config(folder, box.url, ROOT / "rules")
        text = config.read_text().replace('name = "sandbox"', f'name = "week{week}"')
        text = text.replace(f"{folder.as_posix()}/demo", f"{work.as_posix()}/demo")
        config.write_text(text)
        cli("run", "--config", str(config), "--once", at=at)
        for ticket in answered(week):
            requests.post(
                f"{box.url}/__sandbox/tickets/{ticket}/comments",
                json={"author_id": AGENT, "body": "Looking into this now.", "public": True},
                timeout=10,
            ).raise_for_status()
        for ticket in solved(week):
            requests.put(
                f"{box.url}/__sandbox/tickets/{ticket}",
                json={"ticket": {"status": "solved"}},
                timeout=10,
            ).raise_for_status()
        cli("run", "--config", str(config), "--once", at=at + timedelta(seconds=30))
        return config


def main() -> None:
    """Build four weeks of history, the report, and the screenshot."""
    os.environ["ESC_SYNC_DEMO_TOKEN"] = "screenshot-token"
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, JsonReceiver() as hook:
        work = Path(tmp)
        for channel in ("TEAM_LEADS", "SPECIALISTS", "LEGAL"):  # the shipped channels
            os.environ[f"ESC_SYNC_NOTIFY_{channel}"] = hook.url(channel.lower())
        config = Path()
        for week, ago in enumerate((21, 14, 7, 0)):
            at = weekday_at_noon_in_new_york(now - timedelta(days=ago))
            config = one_week(work, week, min(at, now - timedelta(hours=1)))
        page = work / "report.html"
        cli("report", "--config", str(config), "--since", "28d", "--out", str(page))
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
                "--window-size=1000,3400",
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
