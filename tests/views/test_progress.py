"""Progress of long work: a bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from typing import ClassVar

from rich.console import Console
from structlog.testing import capture_logs

from esc_sync.apply.recorder import AuditLog
from esc_sync.connectors.base import Page
from esc_sync.model import Ticket
from esc_sync.progress import AuditTee, ObservedConnector, ProgressDisplay


class FeedOnly:
    """A connector that only has a change feed of three pages."""

    name = "zd"
    profile = None
    calls: ClassVar[Counter[str]] = Counter()

    def iter_changes(self, bookmark: str | None, start: datetime) -> object:
        """Three pages of two tickets."""
        for n in range(3):
            yield Page([Ticket(id=2 * n + 1), Ticket(id=2 * n + 2)], bookmark=str(n))


def test_without_a_terminal_progress_is_logged_every_interval() -> None:
    now = [0.0]
    display = ProgressDisplay(
        Console(file=io.StringIO()), every=10, terminal=False, clock=lambda: now[0]
    )
    feed = ObservedConnector(FeedOnly(), [display.on_page])  # type: ignore[arg-type]

    with capture_logs() as logs, display:
        for page in feed.iter_changes(None, datetime(2026, 3, 4, tzinfo=UTC)):
            for _ in page.tickets:
                now[0] += 4
                display.on_record({"outcome": "no-change"})

    lines = [e for e in logs if e["event"].startswith("progress")]
    assert [e["event"] for e in lines] == ["progress", "progress", "progress done"]
    assert lines[-1]["tickets_read"] == 6 and lines[-1]["tickets_decided"] == 6


def test_short_cycles_log_nothing_between_resets() -> None:
    now = [0.0]
    display = ProgressDisplay(
        Console(file=io.StringIO()), every=10, terminal=False, clock=lambda: now[0]
    )

    with capture_logs() as logs:
        for _ in range(5):  # five quick daemon cycles
            now[0] += 8
            display.on_record({})
            display.reset()

    assert logs == []


def test_on_a_terminal_a_bar_counts_decided_tickets() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    display = ProgressDisplay(console, terminal=True)
    feed = ObservedConnector(FeedOnly(), [display.on_page])  # type: ignore[arg-type]

    with display:
        for page in feed.iter_changes(None, datetime(2026, 3, 4, tzinfo=UTC)):
            for _ in page.tickets:
                display.on_record({})
        assert display._bar is not None
        task = display._bar.tasks[0]
        assert (task.completed, task.total) == (6, 6)
    assert "page 3" in screen.getvalue()


def test_audit_tee_writes_the_log_and_tells_listeners(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "audit.jsonl"
    seen: list[dict[str, object]] = []
    tee = AuditTee(AuditLog(path), [seen.append])

    tee.write({"ticket": 1, "outcome": "dry-run"})

    assert seen == [{"ticket": 1, "outcome": "dry-run"}]
    assert '"ticket": 1' in path.read_text()
