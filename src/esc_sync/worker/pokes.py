"""Webhook pokes when several workers share a PostgreSQL state.

A webhook may reach any worker's listener, while only the holder of the connector's lease may
act on it. So every poke is recorded in the shared state (`pokes` table: a ticket waits once,
the table is bounded per connector), and a local queue wakes this process at once. The daemon
takes a connector's pokes only while it holds the lease (a fenced delete); pokes received by
another worker are seen within `CROSS_WORKER_CHECK` seconds. Pokes survive a worker's death,
since they wait in the database for whoever holds the connector next.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, cast

from esc_sync.webhooks.queue import PokeQueue, PutResult

CROSS_WORKER_CHECK = 0.25  # seconds between looks at the shared table while idle


class PokeStore(Protocol):
    """What the shared state offers for pokes (`esc_sync.state.pg_pokes.PgPokes`)."""

    def add_poke(self, connector: str, ticket_id: int, limit: int) -> str: ...

    def poked(self, connectors: Collection[str]) -> set[str]: ...

    def take_pokes(self, connector: str) -> list[int]: ...


class SharedPokes:
    """The `Pokes` of a worker among several: recorded in the database, woken locally."""

    def __init__(self, store: PokeStore, limit: int = 10_000) -> None:
        self.store = store
        self.limit = limit
        self.local = PokeQueue(limit)  # only wakes this process; the table is the truth
        self._ready: set[str] = set()

    def put(self, connector: str, ticket_id: int) -> PutResult:
        """Record the poke for whichever worker holds the connector."""
        result = cast(PutResult, self.store.add_poke(connector, ticket_id, self.limit))
        if result != "full":
            self.local.put(connector, ticket_id)
        return result

    def take(self, connector: str) -> list[int]:
        """The connector's waiting tickets (call only while holding its lease)."""
        local = self.local.take(connector)
        if not local and connector not in self._ready:
            return []
        self._ready.discard(connector)
        return self.store.take_pokes(connector)

    def wait(self, timeout: float, connectors: Collection[str] | None = None) -> bool:
        """Until a poke waits for one of `connectors` here or in the table, or the timeout."""
        names = list(connectors or [])
        left = timeout
        while True:
            step = min(left, CROSS_WORKER_CHECK)
            if self.local.wait(step, names):
                return True
            left -= step
            if names:
                self._ready = self.store.poked(names)
                if self._ready:
                    return True
            if left <= 0:
                return False

    def wake(self) -> None:
        """Release the waiters (the daemon is stopping)."""
        self.local.wake()
