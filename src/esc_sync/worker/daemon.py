"""The daemon loop: cycles on a schedule, never overlapping, stopping cleanly on a signal.

Shaped like Home Assistant's update coordinator: the next cycle is scheduled only after the
current one ends; a failure is logged once when it starts and once when it recovers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

import schedule
import structlog

from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.errors import AuthError, HelpdeskError
from esc_sync.webhooks.queue import Pokes
from esc_sync.worker.cycle import Worker
from esc_sync.worker.reload import PolicyReloader

log = structlog.get_logger("esc_sync.daemon")


class Daemon:
    """Runs a worker's cycles for several connectors until told to stop."""

    def __init__(
        self,
        worker: Worker,
        connectors: Sequence[Connector],
        *,
        interval_seconds: float,
        dry_run: bool = False,
        on_cycle: Callable[[CycleReport], None] | None = None,
        reloader: PolicyReloader | None = None,
        pokes: Pokes | None = None,
    ) -> None:
        self.worker = worker
        self.connectors = list(connectors)
        self.interval = max(interval_seconds, 1.0)
        self.dry_run = dry_run
        self.on_cycle = on_cycle
        self.reloader = reloader
        self.pokes = pokes  # webhook pokes: tickets to re-read now, between polls
        self.stopping = threading.Event()
        self.failing: dict[str, bool] = {}
        self.stopped: set[str] = set()
        self.scheduler = schedule.Scheduler()
        worker.should_stop = self.stopping.is_set

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Finish the current ticket and exit (signal handler)."""
        if not self.stopping.is_set():
            log.info("stop requested; finishing the current ticket", signal=signum)
        self.stopping.set()
        if self.pokes is not None:
            self.pokes.wake()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the daemon cleanly; SIGHUP reloads the policy."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if self.reloader is not None and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self.reloader.request)

    def reload_if_due(self) -> None:
        """Between cycles: reload the policy if SIGHUP came or a policy file changed."""
        if self.reloader is not None:
            self.reloader.poll()

    def tick(self) -> None:
        """One cycle for every connector still running."""
        for connector in self.connectors:
            if connector.name in self.stopped or self.stopping.is_set():
                continue
            self._cycle(connector)

    def sweep_due(self) -> None:
        """Act on every connector whose earliest due instant has come (deadlines, reminders,
        time rules), between polls, from the mirror."""
        if self.dry_run:
            return  # a dry run keeps nothing, so its due instants never clear: polls cover it
        now = self.worker.clock()
        for connector in self.connectors:
            if connector.name in self.stopped or self.stopping.is_set():
                continue
            due = self.worker.store.next_due(connector.name)
            if due is not None and due <= now:
                self._cycle(connector, sweep_only=True)

    def handle_pokes(self) -> None:
        """Re-read and act on the tickets webhooks named, for the connectors this loop runs.

        Pokes for a connector stopped by an auth failure are dropped (the poller would not
        read them either); a connector's pokes are taken only here, so another loop (another
        worker, later) can be handed the pokes of the connectors it holds."""
        if self.pokes is None:
            return
        for connector in self.connectors:
            if self.stopping.is_set():
                return
            ticket_ids = self.pokes.take(connector.name)
            if ticket_ids and connector.name not in self.stopped:
                self._cycle(connector, poked=ticket_ids)

    def _idle(self, seconds: float) -> None:
        """Wait until the next scheduled thing, a poke for one of our connectors, or a stop."""
        if self.pokes is None:
            self.stopping.wait(seconds)
        else:
            self.pokes.wait(seconds, [c.name for c in self.connectors])

    def _cycle(
        self, connector: Connector, sweep_only: bool = False, poked: list[int] | None = None
    ) -> None:
        name = connector.name
        try:
            if poked:
                report = self.worker.run_pokes(connector, poked, dry_run=self.dry_run)
            elif sweep_only:
                report = self.worker.sweep(connector)
            else:
                report = self.worker.run_cycle(connector, dry_run=self.dry_run)
        except AuthError as exc:
            log.error(
                "authentication refused; stopping this connector",
                connector=name,
                status=exc.status,
                error=str(exc),
            )
            self.stopped.add(name)
            return
        except HelpdeskError as exc:
            if not self.failing.get(name):
                log.error("cycle failed; will retry", connector=name, error=str(exc))
            self.failing[name] = True
            return
        if self.failing.get(name):
            log.info("cycle recovered", connector=name)
        self.failing[name] = False
        log.info(
            "pokes done" if poked else "sweep done" if sweep_only else "cycle done",
            connector=name,
            read=report.tickets_read,
            matched=report.matched,
            updates=report.updates,
            tasks=report.tasks_created,
            skipped=report.skipped,
            calls=sum(report.calls.values()),
        )
        if (
            self.on_cycle and not sweep_only and not poked
        ):  # health and metrics follow reads of the feed
            self.on_cycle(report)

    def run(self) -> int:
        """Run until stopped; 3 when every connector was stopped by an auth failure."""
        self.scheduler.every(max(int(self.interval), 1)).seconds.do(self.tick)
        self.tick()
        while not self.stopping.is_set():
            if self.connectors and len(self.stopped) == len(self.connectors):
                return 3
            self.reload_if_due()
            self.scheduler.run_pending()
            self.handle_pokes()
            self.sweep_due()
            idle = self.scheduler.idle_seconds
            self._idle(min(max(idle or 0.0, 0.05), 1.0))
        log.info("stopped cleanly")
        return 0
