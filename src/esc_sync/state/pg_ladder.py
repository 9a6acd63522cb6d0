"""The PostgreSQL store's dead letters, tier entries and due index (fenced like the rest)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from esc_sync.model import TierEntry
from esc_sync.state.pg_base import PgBase
from esc_sync.state.sqlite import iso_or_none, sortable_utc


class PgLadder(PgBase):
    """Dead letters, the ladder's tier entries, the due index, and connectors' records."""

    # -- records a connector keeps (contacts, listing cursors) ----------------------------

    def record(self, connector: str, kind: str, key: str) -> dict[str, Any] | None:
        """A record kept by a connector, or None."""
        rows = self._rows(
            "SELECT value FROM records WHERE connector = %s AND kind = %s AND key = %s",
            (connector, kind, key),
        )
        value = json.loads(rows[0][0]) if rows else None
        return value if isinstance(value, dict) else None

    def put_record(
        self, connector: str, kind: str, key: str, value: dict[str, Any], now: datetime
    ) -> None:
        """Keep (or replace) a record of a connector (fenced like every connector write)."""
        self._write(
            connector,
            "INSERT INTO records VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (connector, kind, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (connector, kind, key, json.dumps(value), now.isoformat()),
        )

    # -- dead letters ---------------------------------------------------------------------

    def dead_letter(
        self, connector: str, ticket_id: int | None, reason: str, payload: Any, now: datetime
    ) -> None:
        """Record a ticket that could not be read or written, with why."""
        self._write(
            connector,
            "INSERT INTO dead_letters (connector, ticket_id, reason, payload, at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (connector, ticket_id, reason, json.dumps(payload, default=str), now.isoformat()),
        )

    def dead_letters(self, connector: str | None = None) -> list[dict[str, Any]]:
        """Recorded dead letters, oldest first."""
        sql = "SELECT id, connector, ticket_id, reason, at FROM dead_letters"
        args: tuple[Any, ...] = ()
        if connector:
            sql += " WHERE connector = %s"
            args = (connector,)
        keys = ("id", "connector", "ticket", "reason", "at")
        return [dict(zip(keys, r, strict=True)) for r in self._rows(sql + " ORDER BY id", args)]

    def forget_dead_letters(
        self, connector: str, ticket_id: int, up_to_id: int | None = None
    ) -> int:
        """Delete a ticket's dead letters (only those with id <= up_to_id when given)."""
        sql = "DELETE FROM dead_letters WHERE connector = %s AND ticket_id = %s"
        args: tuple[Any, ...] = (connector, ticket_id)
        if up_to_id is not None:
            sql += " AND id <= %s"
            args += (up_to_id,)
        return self._write(connector, sql, args)

    # -- the ladder -----------------------------------------------------------------------

    def enter_tier(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        tier: str,
        entered_at: datetime,
        respond_by: datetime,
        resolve_by: datetime,
    ) -> None:
        """Record that a ticket entered a tier; earlier active entries are left behind."""
        with self._fenced(connector) as conn:
            conn.execute(
                "UPDATE tier_entries SET state = 'left' WHERE connector = %s "
                "AND ticket_id = %s AND state = 'active'",
                (connector, ticket_id),
            )
            conn.execute(
                "INSERT INTO tier_entries VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, NULL, "
                "'active') ON CONFLICT (connector, ticket_id, episode, tier) DO UPDATE SET "
                "entered_at = excluded.entered_at, respond_by = excluded.respond_by, "
                "resolve_by = excluded.resolve_by, responded_at = NULL, paused_since = NULL, "
                "state = 'active'",
                (
                    connector,
                    ticket_id,
                    episode,
                    tier,
                    entered_at.isoformat(),
                    respond_by.isoformat(),
                    resolve_by.isoformat(),
                ),
            )

    def active_entry(self, connector: str, ticket_id: int) -> TierEntry | None:
        """The tier the worker put the ticket in and is watching, if any."""
        rows = self._rows(
            "SELECT episode, tier, entered_at, respond_by, resolve_by, responded_at, "
            "paused_since FROM tier_entries WHERE connector = %s AND ticket_id = %s "
            "AND state = 'active'",
            (connector, ticket_id),
        )
        if not rows:
            return None
        row = rows[0]
        return TierEntry(
            connector=connector,
            ticket_id=ticket_id,
            episode=int(row[0]),
            tier=str(row[1]),
            entered_at=datetime.fromisoformat(row[2]),
            respond_by=datetime.fromisoformat(row[3]),
            resolve_by=datetime.fromisoformat(row[4]),
            responded_at=datetime.fromisoformat(row[5]) if row[5] else None,
            paused_since=datetime.fromisoformat(row[6]) if row[6] else None,
        )

    def update_entry(self, entry: TierEntry, state: str = "active") -> None:
        """Save an entry's response, pause and deadline changes (and its state)."""
        self._write(
            entry.connector,
            "UPDATE tier_entries SET respond_by = %s, resolve_by = %s, responded_at = %s, "
            "paused_since = %s, "
            "state = %s WHERE connector = %s AND ticket_id = %s AND episode = %s AND tier = %s",
            (
                entry.respond_by.isoformat(),
                entry.resolve_by.isoformat(),
                iso_or_none(entry.responded_at),
                iso_or_none(entry.paused_since),
                state,
                entry.connector,
                entry.ticket_id,
                entry.episode,
                entry.tier,
            ),
        )

    # -- the due index --------------------------------------------------------------------

    def set_due(self, connector: str, ticket_id: int, due_at: datetime | None) -> None:
        """Set (or clear) the next instant the ticket needs a look."""
        if due_at is None:
            self._write(
                connector,
                "DELETE FROM due WHERE connector = %s AND ticket_id = %s",
                (connector, ticket_id),
            )
            return
        self._write(
            connector,
            "INSERT INTO due VALUES (%s, %s, %s) ON CONFLICT (connector, ticket_id) "
            "DO UPDATE SET due_at = excluded.due_at",
            (connector, ticket_id, sortable_utc(due_at)),
        )

    def due_tickets(self, connector: str, now: datetime, limit: int = 1000) -> list[int]:
        """Tickets whose due instant has come, earliest first (an indexed range scan)."""
        rows = self._rows(
            "SELECT ticket_id FROM due WHERE connector = %s AND due_at <= %s "
            "ORDER BY due_at LIMIT %s",
            (connector, sortable_utc(now), limit),
        )
        return [int(r[0]) for r in rows]

    def next_due(self, connector: str) -> datetime | None:
        """The earliest due instant of a connector."""
        rows = self._rows("SELECT MIN(due_at) FROM due WHERE connector = %s", (connector,))
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def due_index_size(self, connector: str) -> int:
        """How many tickets the due index holds."""
        return int(self._rows("SELECT COUNT(*) FROM due WHERE connector = %s", (connector,))[0][0])
