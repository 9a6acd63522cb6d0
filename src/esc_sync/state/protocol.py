"""The state store as the worker and the applier use it, one protocol per concern.

`esc_sync.state.sqlite.Store` implements every one of them (the embedded default); a second
backend (PostgreSQL) implements the same protocols. Code that needs one concern asks for that
protocol only, so what each part reads and writes is visible in its signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from esc_sync.model import LedgerEntry, Ticket, TierEntry


class Bookmarks(Protocol):
    """Where each connector's change feed was read up to."""

    def bookmark(self, connector: str) -> str | None: ...

    def set_bookmark(self, connector: str, value: str, now: datetime) -> None: ...


class Mirror(Protocol):
    """The fields rules need of every open ticket, its episode, the requester's history."""

    def observe(self, connector: str, ticket: Ticket) -> int: ...

    def page_writes(self, connector: str) -> AbstractContextManager[None]:
        """One transaction for the writes inside (a page's mirror observes, its due index),
        instead of one per row. Never around a ledger intent: an intent must be durable
        before its helpdesk write, so nothing that writes to the helpdesk runs inside."""
        ...

    def episode(self, connector: str, ticket_id: int) -> int: ...

    def mirrored(self, connector: str, ticket_id: int) -> Ticket | None: ...

    def mirror_count(self, connector: str) -> int: ...

    def requester_tickets(self, connector: str, requester_id: int, since: datetime) -> int: ...

    def recent_tickets(
        self, connector: str, requester_id: int, exclude: int, limit: int = 5
    ) -> list[dict[str, Any]]: ...


class Ledger(Protocol):
    """Every effect's intent before it is sent and its outcome after (exactly once)."""

    def ledger(self, connector: str, ticket_id: int, episode: int) -> dict[str, LedgerEntry]: ...

    def record_intent(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        key: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None: ...

    def record_done(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        key: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> None: ...

    def forget_intents(self, connector: str, ticket_id: int, episode: int) -> None: ...

    def forget_keys(
        self, connector: str, ticket_id: int, episode: int, keys: list[str]
    ) -> None: ...

    def open_intents(self, connector: str) -> list[LedgerEntry]: ...


class TierEntries(Protocol):
    """The tiers the worker moved tickets into, with their deadlines."""

    def enter_tier(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        tier: str,
        entered_at: datetime,
        respond_by: datetime,
        resolve_by: datetime,
    ) -> None: ...

    def active_entry(self, connector: str, ticket_id: int) -> TierEntry | None: ...

    def update_entry(self, entry: TierEntry, state: str = "active") -> None: ...


class DueIndex(Protocol):
    """The next instant each ticket's decision could change."""

    def set_due(self, connector: str, ticket_id: int, due_at: datetime | None) -> None: ...

    def due_tickets(self, connector: str, now: datetime, limit: int = 1000) -> list[int]: ...

    def next_due(self, connector: str) -> datetime | None: ...

    def due_index_size(self, connector: str) -> int: ...


class DeadLetters(Protocol):
    """Tickets that could not be read or written, with why."""

    def dead_letter(
        self, connector: str, ticket_id: int | None, reason: str, payload: Any, now: datetime
    ) -> None: ...

    def dead_letters(self, connector: str | None = None) -> list[dict[str, Any]]: ...

    def forget_dead_letters(
        self, connector: str, ticket_id: int, up_to_id: int | None = None
    ) -> int: ...


class SurgeHits(Protocol):
    """Which tickets match each surge rule, by creation time."""

    def set_surge_hit(
        self, connector: str, rule_id: str, ticket_id: int, created_at: datetime | None, hit: bool
    ) -> bool: ...

    def surge_hits(
        self, connector: str, rule_id: str, start: datetime, end: datetime
    ) -> list[tuple[int, datetime]]: ...


class LeaseCheck(Protocol):
    """Renew this worker's lease on a connector, or raise LeaseLost (before and while writing);
    or only keep it alive, never raising, while waiting on purpose (`keep_alive`)."""

    def check_lease(self, connector: str) -> None: ...

    def keep_alive(self, connector: str) -> None: ...


class Leases(LeaseCheck, Protocol):
    """Which connectors this worker runs: every one on SQLite, a fair share on PostgreSQL.

    On PostgreSQL each connector is held under a lease with a fencing token; every state write
    for it is refused with `LeaseLost` once another worker took it over.
    """

    worker_id: str

    def balance(self, connectors: Sequence[str]) -> list[str]: ...

    def holds(self, connector: str) -> bool: ...

    def release_all(self) -> None: ...

    def lease_status(self) -> list[dict[str, Any]]: ...

    def live_workers(self) -> list[str]: ...


class Records(Protocol):
    """Small records a connector keeps between cycles (contacts, listing cursors), as JSON
    objects keyed by (connector, kind, key). The app lends them to caching connectors."""

    def record(self, connector: str, kind: str, key: str) -> dict[str, Any] | None: ...

    def put_record(
        self, connector: str, kind: str, key: str, value: dict[str, Any], now: datetime
    ) -> None: ...


class FactSource(Mirror, Ledger, TierEntries, SurgeHits, Protocol):
    """What gathering a ticket's facts reads (and nothing it writes is used)."""


class StateStore(
    Bookmarks,
    Mirror,
    Ledger,
    TierEntries,
    DueIndex,
    DeadLetters,
    SurgeHits,
    Leases,
    Records,
    Protocol,
):
    """A whole state store: every concern, plus a dry-run scope and closing."""

    def bookmarks(self) -> dict[str, str]: ...

    def ledger_count(self, connector: str, state: str = "done") -> int: ...

    def schema_version(self) -> int: ...

    def dry_run(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


__all__ = [
    "Bookmarks",
    "DeadLetters",
    "DueIndex",
    "FactSource",
    "LeaseCheck",
    "Leases",
    "Ledger",
    "Mirror",
    "Records",
    "StateStore",
    "SurgeHits",
    "TierEntries",
]
