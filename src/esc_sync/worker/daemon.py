"""The daemon loop: cycles on a schedule, never overlapping, stopping cleanly on a signal.

Shaped like Home Assistant's update coordinator: the next cycle is scheduled only after the
current one ends; a failure is logged once when it starts and once when it recovers.

Several workers (PostgreSQL state): the daemon runs only the connectors whose leases it holds.
It balances its leases (heartbeat, renew, give back beyond its share, take free ones) before
every tick and every third of the lease TTL between ticks, and runs a connector it has just
taken at once, so a dead holder's connectors move within `lease_ttl` + `poll_interval`. A
lease lost in mid-cycle (`LeaseLost`: its writes were refused) ends that connector's cycle; the
worker keeps running and competes again. On SQLite the store holds every connector.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import schedule
import structlog

from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector
from esc_sync.errors import AuthError, HelpdeskError, LeaseLost, StateUnavailable
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
        lease_ttl: float = 30.0,
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
        self.held: set[str] = set()
        self.balance_every = max(min(lease_ttl / 3, self.interval), 0.2)
        self._balanced_at = float("-inf")
        self._state_failing = False
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
        """One cycle for every connector this worker runs."""
        self.balance()
        for connector in self.connectors:
            if time.monotonic() - self._balanced_at >= self.balance_every:
                self.balance()  # a long tick gives back and renews between connectors too
            if not self._runs(connector.name):
                continue
            self._cycle(connector)

    def _runs(self, name: str) -> bool:
        return name in self.held and name not in self.stopped and not self.stopping.is_set()

    def balance(self) -> set[str]:
        """Take this worker's share of the connectors (all of them on SQLite or when dry);
        returns the connectors it gained."""
        names = [c.name for c in self.connectors if c.name not in self.stopped]
        self._balanced_at = time.monotonic()
        if self.dry_run:  # a dry run writes nothing: it takes no lease from a live worker
            gained = set(names) - self.held
            self.held = set(names)
            return gained
        try:
            held = set(self.worker.store.balance(names))
        except StateUnavailable as exc:
            self._state_failed(exc)
            return set()
        self._state_recovered()
        gained, lost = held - self.held, self.held - held
        if gained or lost:
            log.info("leases", runs=sorted(held), gained=sorted(gained), gave_up=sorted(lost))
        self.held = held
        return gained

    def _state_failed(self, exc: StateUnavailable) -> None:
        if not self._state_failing:
            log.error("state database unavailable; will retry", error=str(exc))
        self._state_failing = True

    def _state_recovered(self) -> None:
        if self._state_failing:
            log.info("state database reachable again")
        self._state_failing = False

    def sweep_due(self) -> None:
        """Act on every connector whose earliest due instant has come (deadlines, reminders,
        time rules), between polls, from the mirror."""
        if self.dry_run:
            return  # a dry run keeps nothing, so its due instants never clear: polls cover it
        now = self.worker.clock()
        for connector in self.connectors:
            if not self._runs(connector.name):
                continue
            try:
                due = self.worker.store.next_due(connector.name)
            except StateUnavailable as exc:
                self._state_failed(exc)
                return
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
            if connector.name not in self.held:
                continue  # another worker holds it: its pokes wait for that worker
            try:
                ticket_ids = self.pokes.take(connector.name)
            except (LeaseLost, StateUnavailable):
                continue  # lost in the meantime, or the database is away: they wait there
            if ticket_ids and connector.name not in self.stopped:
                self._cycle(connector, poked=ticket_ids)

    def _idle(self, seconds: float) -> None:
        """Wait until the next scheduled thing, a poke for one of our connectors, or a stop."""
        if self.pokes is None:
            self.stopping.wait(seconds)
        else:
            try:
                self.pokes.wait(seconds, sorted(self.held - self.stopped))
            except StateUnavailable as exc:
                self._state_failed(exc)
                self.stopping.wait(seconds)

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
        except LeaseLost:
            log.warning("lease lost in mid-cycle; another worker runs it now", connector=name)
            self.held.discard(name)
            return
        except StateUnavailable as exc:
            self._state_failed(exc)  # nothing half-done: the ledger settles it next cycle
            return
        self._state_recovered()
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
            if time.monotonic() - self._balanced_at >= self.balance_every:
                gained = self.balance()
                for connector in self.connectors:  # taken over just now: run it at once
                    if connector.name in gained and self._runs(connector.name):
                        self._cycle(connector)
            self.handle_pokes()
            self.sweep_due()
            idle = self.scheduler.idle_seconds
            self._idle(min(max(idle or 0.0, 0.05), 1.0))
        log.info("stopped cleanly")
        return 0
