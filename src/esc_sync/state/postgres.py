"""The state store on PostgreSQL: the same protocols as the SQLite store, for several workers.

    worker ──► PgStore ──► psycopg pool ──► PostgreSQL
                  │
                  └─ fenced writes: every write for a connector runs in one transaction
                     that, just before its commit, renews that connector's lease row *if and
                     only if* this worker still holds it with the token it was given
                     (`UPDATE leases … WHERE holder = me AND token = t AND expires_at > now`).
                     No row → LeaseLost, nothing written. The row lock taken by that UPDATE
                     orders the commit against a takeover, and lasts only until the commit.

Leases themselves (who runs which connector) live in `esc_sync.state.pg_leases`. A dry run
shadows every data table with a temporary copy inside one transaction that is rolled back, so
it never locks a row a live worker needs, and never moves a bookmark or records an effect.

The password is never in the URL (the config refuses one): libpq reads it from PGPASSWORD or
~/.pgpass. Errors name the server by host, port and database only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from esc_sync.errors import SchemaTooNew, StateUnavailable
from esc_sync.model import CLOSED_STATUSES, LedgerEntry, Ticket
from esc_sync.state.pg_budget import PgBudgets
from esc_sync.state.pg_ladder import PgLadder
from esc_sync.state.pg_pokes import PgPokes
from esc_sync.state.pg_schema import DATA_TABLES, MIGRATION_LOCK, PG_MIGRATIONS, PG_SCHEMA_VERSION
from esc_sync.state.snapshot import dump_ticket, load_ticket
from esc_sync.state.sqlite import iso_or_none


class PgStore(PgLadder, PgBudgets, PgPokes):
    """PostgreSQL-backed state shared by several workers, each connector under one lease."""

    def __init__(
        self,
        url: str,
        *,
        worker_id: str,
        lease_ttl: float = 30.0,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            url,
            worker_id=worker_id,
            lease_ttl=lease_ttl,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
        )
        self._migrate()

    def close(self) -> None:
        """Give back the leases this worker holds and close the pool."""
        with suppress(StateUnavailable):  # unreachable: the leases lapse after their TTL
            self.release_all()
        self.pool.close()

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before the first migration)."""
        rows = self._rows("SELECT to_regclass('esc_sync_schema') IS NOT NULL")
        if not rows[0][0]:
            return 0
        return int(self._rows("SELECT version FROM esc_sync_schema")[0][0])

    def _migrate(self) -> None:
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS esc_sync_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM esc_sync_schema").fetchone()
            if row is None:
                conn.execute("INSERT INTO esc_sync_schema VALUES (0)")
                version = 0
            else:
                version = int(row[0])
            if version > PG_SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.where}: the state schema is version {version}, newer than this "
                    f"esc-sync's {PG_SCHEMA_VERSION}; upgrade esc-sync"
                )
            for step in range(version, PG_SCHEMA_VERSION):
                conn.execute(PG_MIGRATIONS[step])
                conn.execute("UPDATE esc_sync_schema SET version = %s", (step + 1,))

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Run the body against temporary copies of the data tables, then throw them away."""
        with self.connection() as conn, conn.transaction(force_rollback=True):
            for table in DATA_TABLES:
                # pg_temp is searched first, so every statement of the body uses the copy
                conn.execute(
                    f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL) "
                    f"ON COMMIT DROP; INSERT INTO pg_temp.{table} SELECT * FROM public.{table}"
                )
            self._dry_conn, self.dry = conn, True
            try:
                yield
            finally:
                self._dry_conn, self.dry = None, False

    # -- bookmarks ------------------------------------------------------------------------

    def bookmark(self, connector: str) -> str | None:
        """The saved change-feed position of a connector."""
        rows = self._rows("SELECT value FROM bookmarks WHERE connector = %s", (connector,))
        return str(rows[0][0]) if rows else None

    def bookmarks(self) -> dict[str, str]:
        """Every connector's bookmark."""
        return {str(r[0]): str(r[1]) for r in self._rows("SELECT connector, value FROM bookmarks")}

    def set_bookmark(self, connector: str, value: str, now: datetime) -> None:
        """Move the bookmark (only while this worker holds the connector)."""
        self._write(
            connector,
            "INSERT INTO bookmarks VALUES (%s, %s, %s) ON CONFLICT (connector) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (connector, value, now.isoformat()),
        )

    # -- mirror ---------------------------------------------------------------------------

    def observe(self, connector: str, ticket: Ticket) -> int:
        """Record a ticket in the mirror and return its episode (a reopen starts a new one)."""
        with self._fenced(connector) as conn:
            row = conn.execute(
                "SELECT status, episode FROM mirror WHERE connector = %s AND ticket_id = %s",
                (connector, ticket.id),
            ).fetchone()
            episode = 1
            if row is not None:
                old_status, episode = str(row[0]), int(row[1])
                if old_status in CLOSED_STATUSES and ticket.status not in CLOSED_STATUSES:
                    episode += 1
            conn.execute(
                "INSERT INTO mirror VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (connector, ticket_id) DO UPDATE SET status = excluded.status, "
                "episode = excluded.episode, tier = excluded.tier, "
                "requester_id = excluded.requester_id, created_at = excluded.created_at, "
                "updated_at = excluded.updated_at, data = excluded.data",
                (
                    connector,
                    ticket.id,
                    ticket.status,
                    episode,
                    ticket.tier,
                    ticket.requester.id,
                    iso_or_none(ticket.created_at),
                    iso_or_none(ticket.updated_at),
                    dump_ticket(ticket),
                ),
            )
        return episode

    def episode(self, connector: str, ticket_id: int) -> int:
        """The ticket's current episode (1 when it was never seen)."""
        rows = self._rows(
            "SELECT episode FROM mirror WHERE connector = %s AND ticket_id = %s",
            (connector, ticket_id),
        )
        return int(rows[0][0]) if rows else 1

    def requester_tickets(self, connector: str, requester_id: int, since: datetime) -> int:
        """How many tickets the requester opened since `since` (from the mirror)."""
        rows = self._rows(
            "SELECT COUNT(*) FROM mirror WHERE connector = %s AND requester_id = %s "
            "AND created_at >= %s",
            (connector, requester_id, since.isoformat()),
        )
        return int(rows[0][0])

    def recent_tickets(
        self, connector: str, requester_id: int, exclude: int, limit: int = 5
    ) -> list[dict[str, Any]]:
        """The requester's other tickets, newest first, for the briefing's history."""
        rows = self._rows(
            "SELECT ticket_id, status, created_at, data FROM mirror WHERE connector = %s "
            "AND requester_id = %s AND ticket_id != %s ORDER BY created_at DESC LIMIT %s",
            (connector, requester_id, exclude, limit),
        )
        return [
            {
                "id": int(r[0]),
                "status": r[1],
                "created_at": r[2],
                "subject": json.loads(r[3]).get("subject", ""),
            }
            for r in rows
        ]

    def mirrored(self, connector: str, ticket_id: int) -> Ticket | None:
        """The ticket as last seen, from the mirror (no API call)."""
        rows = self._rows(
            "SELECT data FROM mirror WHERE connector = %s AND ticket_id = %s",
            (connector, ticket_id),
        )
        return load_ticket(rows[0][0]) if rows else None

    def mirror_count(self, connector: str) -> int:
        """Tickets in the mirror."""
        return int(
            self._rows("SELECT COUNT(*) FROM mirror WHERE connector = %s", (connector,))[0][0]
        )

    # -- surge ----------------------------------------------------------------------------

    def set_surge_hit(
        self, connector: str, rule_id: str, ticket_id: int, created_at: datetime | None, hit: bool
    ) -> bool:
        """Add or remove a ticket from a surge rule's hits; True when it was newly added."""
        if not hit or created_at is None:
            self._write(
                connector,
                "DELETE FROM surge_hits WHERE connector = %s AND rule_id = %s AND ticket_id = %s",
                (connector, rule_id, ticket_id),
            )
            return False
        added = self._write(
            connector,
            "INSERT INTO surge_hits VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (connector, rule_id, ticket_id, created_at.isoformat()),
        )
        return added > 0

    def surge_hits(
        self, connector: str, rule_id: str, start: datetime, end: datetime
    ) -> list[tuple[int, datetime]]:
        """(ticket id, created_at) of a rule's hits with created_at in [start, end]."""
        rows = self._rows(
            "SELECT ticket_id, created_at FROM surge_hits WHERE connector = %s "
            "AND rule_id = %s AND created_at >= %s AND created_at <= %s ORDER BY created_at",
            (connector, rule_id, start.isoformat(), end.isoformat()),
        )
        return [(int(r[0]), datetime.fromisoformat(r[1])) for r in rows]

    # -- ledger ---------------------------------------------------------------------------

    def ledger(self, connector: str, ticket_id: int, episode: int) -> dict[str, LedgerEntry]:
        """Every ledger entry of a ticket's episode, by key."""
        rows = self._rows(
            "SELECT key, state, detail FROM ledger WHERE connector = %s AND ticket_id = %s "
            "AND episode = %s",
            (connector, ticket_id, episode),
        )
        return {
            r[0]: LedgerEntry(connector, ticket_id, episode, r[0], r[1], json.loads(r[2]))
            for r in rows
        }

    def record_intent(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        key: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        """Write down what is about to be written, before writing it (fenced)."""
        self._write(
            connector,
            "INSERT INTO ledger VALUES (%s, %s, %s, %s, 'intent', %s, %s, %s) "
            "ON CONFLICT (connector, ticket_id, episode, key) DO UPDATE SET state = 'intent', "
            "detail = excluded.detail, updated_at = excluded.updated_at",
            (
                connector,
                ticket_id,
                episode,
                key,
                json.dumps(detail),
                now.isoformat(),
                now.isoformat(),
            ),
        )

    def record_done(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        key: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Mark an intent as applied, merging `extra` into its detail (fenced)."""
        with self._fenced(connector) as conn:
            row = conn.execute(
                "SELECT detail FROM ledger WHERE connector = %s AND ticket_id = %s "
                "AND episode = %s AND key = %s",
                (connector, ticket_id, episode, key),
            ).fetchone()
            detail = json.loads(row[0]) if row else {}
            detail.update(extra or {})
            stamp = now.isoformat()
            conn.execute(
                "INSERT INTO ledger VALUES (%s, %s, %s, %s, 'done', %s, %s, %s) "
                "ON CONFLICT (connector, ticket_id, episode, key) DO UPDATE SET state = 'done', "
                "detail = excluded.detail, updated_at = excluded.updated_at",
                (connector, ticket_id, episode, key, json.dumps(detail), stamp, stamp),
            )

    def forget_intents(self, connector: str, ticket_id: int, episode: int) -> None:
        """Drop a ticket's open intents: the write they announced did not land."""
        self._write(
            connector,
            "DELETE FROM ledger WHERE connector = %s AND ticket_id = %s AND episode = %s "
            "AND state = 'intent'",
            (connector, ticket_id, episode),
        )

    def forget_keys(self, connector: str, ticket_id: int, episode: int, keys: list[str]) -> None:
        """Drop some open intents of a ticket."""
        self._write(
            connector,
            "DELETE FROM ledger WHERE connector = %s AND ticket_id = %s AND episode = %s "
            "AND key = ANY(%s) AND state = 'intent'",
            (connector, ticket_id, episode, list(keys)),
        )

    def open_intents(self, connector: str) -> list[LedgerEntry]:
        """Intents without an outcome: a crash happened between announcing and recording."""
        rows = self._rows(
            "SELECT ticket_id, episode, key, state, detail FROM ledger WHERE connector = %s "
            "AND state = 'intent' ORDER BY ticket_id, episode, key",
            (connector,),
        )
        return [
            LedgerEntry(connector, int(r[0]), int(r[1]), r[2], r[3], json.loads(r[4])) for r in rows
        ]

    def ledger_count(self, connector: str, state: str = "done") -> int:
        """How many ledger entries are in a state."""
        rows = self._rows(
            "SELECT COUNT(*) FROM ledger WHERE connector = %s AND state = %s", (connector, state)
        )
        return int(rows[0][0])
