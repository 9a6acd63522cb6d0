"""The one instant the suite's helpdesks and workers share, so no outcome depends on the hour.

Every sandbox a test starts is seeded at `FROZEN` and every worker it runs reads the sandbox's
clock (in a child process through `ESC_SYNC_NOW`), so the suite passes whatever the machine's
date, time of day or time zone. The default instant is a Wednesday at 11:05 in New York, inside
business hours, where reminders once fired together with the briefing. `ESC_SYNC_TEST_NOW`
(an ISO instant) runs the suite at another hour: CI uses it with libfaketime to run the
integration tests at instants chosen to break time-dependent code.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from esc_sync.clock import NOW_VARIABLE, parse_instant
from esc_sync.sandbox import Sandbox

FROZEN = (
    parse_instant(os.environ["ESC_SYNC_TEST_NOW"], "ESC_SYNC_TEST_NOW")
    if os.environ.get("ESC_SYNC_TEST_NOW")
    else datetime(2026, 3, 4, 16, 5, tzinfo=UTC)
)


_latest: Sandbox | None = None  # tests run one at a time: the sandbox a test started last


def frozen_sandbox(**options: Any) -> Sandbox:
    """A sandbox whose clock (and seed) starts at `FROZEN`."""
    global _latest
    options.setdefault("now", FROZEN)
    _latest = Sandbox(**options)
    return _latest


def suite_now() -> datetime:
    """The time the current test's helpdesk reads (`FROZEN` before any sandbox started)."""
    return _latest.store.clock.now() if _latest is not None else FROZEN


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child `esc-sync` process: its clock reads the sandbox's time."""
    return {**os.environ, NOW_VARIABLE: suite_now().isoformat(), **(extra or {})}
