"""The poke queue: tickets named by webhooks, waiting for the worker to re-read them.

Bounded (by distinct tickets waiting, over all connectors) and coalescing: a thousand pokes for
the same ticket before the worker gets to it are one re-read. In-process today; the `Pokes`
protocol is the seam where several workers could route pokes to the lease holder of a connector.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

PutResult = Literal["queued", "coalesced", "full"]


class Pokes(Protocol):
    """What the webhook side puts into and the worker loop takes out of."""

    def put(self, connector: str, ticket_id: int) -> PutResult:
        """Ask for a re-read of the ticket; "full" when there is no room (answer 429)."""
        ...

    def take(self, connector: str) -> list[int]:
        """Every ticket waiting for this connector, oldest poke first; they leave the queue."""
        ...

    def wait(self, timeout: float, connectors: Collection[str] | None = None) -> bool:
        """Block until a poke waits (for one of `connectors`, if given), a wake, or timeout;
        True when a poke waits."""
        ...

    def wake(self) -> None:
        """Release every waiter now (the daemon is stopping)."""
        ...


@dataclass(slots=True)
class PokeStats:
    """Counts since start: pokes queued, folded into a waiting one, refused when full."""

    queued: int = 0
    coalesced: int = 0
    refused: int = 0


class PokeQueue:
    """An in-process `Pokes`: a dict of waiting ticket ids per connector under one condition."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.stats = PokeStats()
        # re-entrant: `wake` may run in a signal handler on the thread that holds the lock
        self._cond = threading.Condition(threading.RLock())
        self._waiting: dict[str, dict[int, None]] = {}
        self._size = 0
        self._woken = False

    def put(self, connector: str, ticket_id: int) -> PutResult:
        """Queue a re-read; a ticket already waiting is not queued twice."""
        with self._cond:
            tickets = self._waiting.setdefault(connector, {})
            if ticket_id in tickets:
                self.stats.coalesced += 1
                return "coalesced"
            if self._size >= self.limit:
                self.stats.refused += 1
                return "full"
            tickets[ticket_id] = None
            self._size += 1
            self.stats.queued += 1
            self._cond.notify_all()
            return "queued"

    def take(self, connector: str) -> list[int]:
        """Drain the connector's waiting tickets."""
        with self._cond:
            tickets = self._waiting.pop(connector, {})
            self._size -= len(tickets)
            return list(tickets)

    def pending(self, connector: str | None = None) -> int:
        """How many tickets wait (for one connector, or in all)."""
        with self._cond:
            if connector is None:
                return self._size
            return len(self._waiting.get(connector, {}))

    def wait(self, timeout: float, connectors: Collection[str] | None = None) -> bool:
        """Wait for a poke for one of `connectors` (any connector when None)."""
        with self._cond:
            self._woken = False
            self._cond.wait_for(lambda: self._woken or self._ready(connectors), timeout)
            return self._ready(connectors)

    def wake(self) -> None:
        """Release the waiters."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def _ready(self, connectors: Collection[str] | None) -> bool:
        names = self._waiting if connectors is None else connectors
        return any(self._waiting.get(name) for name in names)
