"""Webhook pokes shared by several workers (PostgreSQL): any worker's listener records them,
the holder of the connector's lease takes them (a fenced delete, so only the holder can).

    pokes: connector │ ticket_id │ at        (a ticket waits once: pokes coalesce)
"""

from __future__ import annotations

from collections.abc import Collection

from esc_sync.state.pg_base import PgBase


class PgPokes(PgBase):
    """The `pokes` table of the PostgreSQL store."""

    def add_poke(self, connector: str, ticket_id: int, limit: int) -> str:
        """Record a poke: "queued", "coalesced" (already waiting) or "full" (`limit` tickets
        of this connector wait already)."""
        with self.pooled() as conn, conn.transaction():
            added = conn.execute(
                "INSERT INTO pokes (connector, ticket_id) SELECT %s, %s "
                "WHERE (SELECT COUNT(*) FROM pokes WHERE connector = %s) < %s "
                "ON CONFLICT DO NOTHING",
                (connector, ticket_id, connector, limit),
            ).rowcount
            if added:
                return "queued"
            waiting = conn.execute(
                "SELECT 1 FROM pokes WHERE connector = %s AND ticket_id = %s",
                (connector, ticket_id),
            ).fetchone()
        return "coalesced" if waiting else "full"

    def poked(self, connectors: Collection[str]) -> set[str]:
        """Which of these connectors have pokes waiting."""
        with self.pooled() as conn:
            rows = conn.execute(
                "SELECT DISTINCT connector FROM pokes WHERE connector = ANY(%s)",
                (list(connectors),),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def take_pokes(self, connector: str) -> list[int]:
        """Take the connector's waiting tickets, oldest first (only while holding its lease)."""
        with self._fenced(connector) as conn:
            rows = conn.execute(
                "DELETE FROM pokes WHERE connector = %s RETURNING ticket_id, at", (connector,)
            ).fetchall()
        return [int(r[0]) for r in sorted(rows, key=lambda r: r[1])]
