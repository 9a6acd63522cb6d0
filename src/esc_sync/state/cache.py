"""Records connectors keep between cycles (contacts read, listing cursors), in the state store.

`SqliteRecords` is the SQLite implementation of `protocol.Records` (table `records`, migration
3); `ConnectorCache` binds it to one connector, as the `RecordCache` a connector is lent.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from esc_sync.state.protocol import Records


class SqliteRecords:
    """`Records` over the store's SQLite connection (mixed into `sqlite.Store`)."""

    db: sqlite3.Connection

    def record(self, connector: str, kind: str, key: str) -> dict[str, Any] | None:
        """The record a connector kept under (kind, key), or None."""
        row = self.db.execute(
            "SELECT value FROM records WHERE connector = ? AND kind = ? AND key = ?",
            (connector, kind, key),
        ).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def put_record(
        self, connector: str, kind: str, key: str, value: dict[str, Any], now: datetime
    ) -> None:
        """Keep a record under (kind, key), replacing the one there."""
        self.db.execute(
            "INSERT INTO records (connector, kind, key, value, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (connector, kind, key) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (connector, kind, key, json.dumps(value, sort_keys=True), now.isoformat()),
        )


class ConnectorCache:
    """One connector's records (a `RecordCache`), stamped with the worker's clock."""

    def __init__(self, store: Records, connector: str, clock: Any) -> None:
        self.store = store
        self.connector = connector
        self.clock = clock

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record kept under (kind, key), or None."""
        return self.store.record(self.connector, kind, key)

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        """Keep `record` under (kind, key)."""
        self.store.put_record(self.connector, kind, key, record, self.clock())


class ReadThroughCache:
    """A connector's records read from the store, new ones kept in memory only (for the
    read-only verbs: `rules explain` never writes the state store)."""

    def __init__(self, store: Records | None, connector: str) -> None:
        self.store_or_none = store
        self.connector = connector
        self.fresh: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record kept in memory, else in the store, or None."""
        if (kind, key) in self.fresh:
            return self.fresh[(kind, key)]
        if self.store_or_none is None:
            return None
        return self.store_or_none.record(self.connector, kind, key)

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        """Keep `record` in memory."""
        self.fresh[(kind, key)] = record
