"""What `esc-sync run` shows and serves around the worker: progress, summary, plan file, metrics.

The worker itself is unchanged: the observer wraps each connector's change feed and the audit
log, and is told when a cycle ends (the daemon's `on_cycle`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from esc_sync.app import App
from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.durations import parse_duration
from esc_sync.metrics import Metrics, MetricsServer
from esc_sync.plans import plan_document, write_plan
from esc_sync.progress import (
    AuditTee,
    ObservedConnector,
    PageListener,
    ProgressDisplay,
    RecordListener,
)


def health_bound(app: App) -> float:
    """Seconds without a successful cycle before /healthz says unhealthy."""
    poll = app.config.settings.worker.poll_every
    deadline = parse_duration(app.config.settings.worker.cycle_deadline)
    return max(3 * poll, deadline + poll, timedelta(seconds=3)).total_seconds()


class KeptRecords:
    """The audit records of a `--once` run, as far as its summary and plan file need them.

    A record with a plan or with calls (made or withheld) is kept whole: the plan file and the
    write counts read it, and there is one per write, not one per ticket read. Every other
    record (`no-change`, a skipped ticket: one per ticket read) is only counted by outcome, so
    a cycle over 200k tickets does not hold 200k dicts; iterating yields one shared stand-in
    `{"outcome": ..., "calls": {}}` per counted record, which is all the summary reads of it.
    """

    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []
        self.counted: Counter[str] = Counter()

    def append(self, record: dict[str, Any]) -> None:
        """Keep a record that plans or calls something; count the others by outcome."""
        calls = record.get("calls") or {}
        if (
            record.get("planned") is not None
            or calls.get("made")
            or calls.get("withheld")
            or set(calls) - {"made", "withheld"}
        ):
            self.kept.append(record)
        else:
            self.counted[str(record.get("outcome"))] += 1

    def __len__(self) -> int:
        return len(self.kept) + self.counted.total()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.kept
        for outcome, count in sorted(self.counted.items()):
            stand_in: dict[str, Any] = {"outcome": outcome, "calls": {}}
            for _ in range(count):
                yield stand_in


class RunObserver:
    """Progress, records, metrics and the plan file of one `esc-sync run`."""

    def __init__(
        self,
        app: App,
        console: Console,
        *,
        keep_records: bool,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        terminal: bool | None = None,
    ) -> None:
        self.app = app
        self.keep = keep_records
        self.records = KeptRecords()
        self.reports: list[CycleReport] = []
        self.progress = ProgressDisplay(console, terminal=terminal)
        self.metrics: Metrics | None = None
        self.server: MetricsServer | None = None
        listeners: list[RecordListener] = [self.progress.on_record]
        page_listeners: list[PageListener] = [self.progress.on_page]
        if keep_records:
            listeners.append(self.records.append)
        if metrics_port is not None:
            worker_clock = app.worker.clock
            self.metrics = Metrics(clock=lambda: worker_clock().timestamp())
            self.metrics.register(app.connectors)
            listeners.append(self.metrics.on_record)
            page_listeners.append(self.metrics.on_page)
            names = [c.name for c in app.connectors]
            self.server = MetricsServer(
                self.metrics,
                names,
                port=metrics_port,
                host=metrics_host,
                bound_seconds=health_bound(app),
            ).start()
        app.worker.audit = AuditTee(app.worker.audit, listeners)
        self.connectors: list[Connector] = [
            ObservedConnector(c, page_listeners) for c in app.connectors
        ]

    def showing_progress(self) -> ProgressDisplay:
        """A context that shows progress while a run lasts (a bar, or log lines)."""
        return self.progress

    def cycle_done(self, report: CycleReport) -> None:
        """A cycle ended well: keep its report (for --once), update the metrics."""
        if self.keep:
            self.reports.append(report)
        self.progress.reset()
        if self.metrics is not None:
            store: Any = self.app.store
            size = store.due_index_size(report.connector) if hasattr(store, "due_index_size") else 0
            self.metrics.on_cycle(report, int(size))

    def write_plan(self, path: Path, generated_at: datetime) -> int:
        """Write the plan file; returns how many tickets it lists."""
        subjects = {(r.connector, row.ticket): row.subject for r in self.reports for row in r.rows}
        doc = plan_document(
            self.records,
            subjects,
            generated_at=generated_at,
            policy=str(self.app.config.rules_path),
        )
        write_plan(path, doc)
        return len(doc["tickets"])

    def close(self) -> None:
        """Stop the metrics server."""
        if self.server is not None:
            self.server.stop()
