"""Watching a cycle from the outside: pages read, decisions recorded, progress shown.

The worker is not changed for this: the CLI hands it a connector whose change feed is observed
(`ObservedConnector`) and an audit log that also tells listeners each record (`AuditTee`). Both
feed the progress display, the dry-run summary, the plan file and the metrics.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from esc_sync.apply.recorder import AuditLog
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import Connector, Page
from esc_sync.model import TaskCreate, Ticket, TicketUpdate

log = structlog.get_logger("esc_sync.progress")

PageListener = Callable[[Connector, Page], None]
RecordListener = Callable[[dict[str, Any]], None]


class AuditTee(AuditLog):
    """The configured audit log, also handing every record to listeners."""

    def __init__(self, inner: AuditLog, listeners: Sequence[RecordListener] = ()) -> None:
        super().__init__(inner.path)
        self.listeners = list(listeners)

    def write(self, record: dict[str, Any]) -> None:
        """Append the record, then tell the listeners."""
        super().write(record)
        for listener in self.listeners:
            listener(record)


class ObservedConnector:
    """A connector whose change-feed pages are reported to listeners; all else is delegated.

    Optional capabilities (`CommentPrefetcher`, `BulkWriter`) are delegated by `__getattr__`,
    so the wrapper has them exactly when the inner connector does.
    """

    def __init__(self, inner: Connector, listeners: Sequence[PageListener] = ()) -> None:
        self.inner = inner
        self.name = inner.name
        self.profile: ConnectorProfile = inner.profile
        self.calls: Counter[str] = inner.calls
        self.listeners = list(listeners)

    def __getattr__(self, name: str) -> Any:
        """The inner connector's optional capabilities."""
        return getattr(self.inner, name)

    def check_auth(self) -> None:
        """Delegated."""
        self.inner.check_auth()

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """The inner feed, each page reported before the worker processes it."""
        for page in self.inner.iter_changes(bookmark, start):
            for listener in self.listeners:
                listener(self.inner, page)
            yield page

    def load_comments(self, ticket: Ticket) -> Ticket:
        """Delegated."""
        return self.inner.load_comments(ticket)

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """Delegated."""
        return self.inner.fetch_ticket(ticket_id)

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Delegated."""
        return self.inner.fetch_tickets(ticket_ids)

    def apply_update(self, update: TicketUpdate) -> str | None:
        """Delegated."""
        return self.inner.apply_update(update)

    def find_task(self, external_id: str) -> int | None:
        """Delegated."""
        return self.inner.find_task(external_id)

    def create_task(self, task: TaskCreate) -> int:
        """Delegated."""
        return self.inner.create_task(task)


class ProgressDisplay:
    """Tickets read and decided: a bar on a terminal, a log line every `every` seconds if not."""

    def __init__(
        self,
        console: Console,
        *,
        every: float = 10.0,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.terminal = console.is_terminal if terminal is None else terminal
        self.every = every
        self.clock = clock
        self.pages = 0
        self.read = 0
        self.decided = 0
        self._last_log = clock()
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        """Start the bar (terminal only)."""
        if self.terminal:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("tickets"),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("reading the change feed", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the bar; log the final figures when not on a terminal."""
        if self._bar is not None:
            self._bar.stop()
        elif self.read:
            self._log(final=True)

    def reset(self) -> None:
        """A cycle ended: the next log line waits a full interval again (quiet when idle)."""
        self._last_log = self.clock()

    def on_page(self, connector: Connector, page: Page) -> None:
        """A page arrived: its tickets join the total."""
        self.pages += 1
        self.read += len(page.tickets)
        self._refresh(f"{connector.name}: page {self.pages}")

    def on_record(self, record: dict[str, Any]) -> None:
        """A ticket was decided (an audit record was written)."""
        self.decided += 1
        self._refresh(None)

    def _refresh(self, description: str | None) -> None:
        """Move the bar, or log when enough time has passed."""
        if self._bar is not None:
            kw: dict[str, Any] = {"completed": self.decided, "total": max(self.read, self.decided)}
            if description:
                kw["description"] = description
            self._bar.update(self._task, **kw)
        elif self.clock() - self._last_log >= self.every:
            self._log(final=False)

    def _log(self, *, final: bool) -> None:
        """One progress line for logs."""
        self._last_log = self.clock()
        log.info(
            "progress done" if final else "progress",
            pages=self.pages,
            tickets_read=self.read,
            tickets_decided=self.decided,
        )
