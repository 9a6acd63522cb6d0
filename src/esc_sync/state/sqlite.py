"""The embedded state store: bookmarks, the mirror, the ledger, dead letters, surge hits.

Only this package speaks SQL. Live runs write in autocommit mode so every ledger intent is
durable before the helpdesk is touched; a dry run wraps everything in one transaction that is
rolled back at the end, so it never moves the live bookmark and never marks anything done.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esc_sync.errors import SchemaTooNew
from esc_sync.model import CLOSED_STATUSES, LedgerEntry, Ticket, TierEntry
from esc_sync.state.cache import SqliteRecords
from esc_sync.state.migrations import MIGRATIONS, SCHEMA_VERSION
from esc_sync.state.snapshot import dump_ticket, load_ticket


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Store(SqliteRecords):
    """SQLite-backed state for every connector of one worker."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.dry = False
        self._migrate()

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- leases: one worker owns a SQLite file, so it holds every connector -----------------

    worker_id = "this worker"

    def balance(self, connectors: Sequence[str]) -> list[str]:
        """Every connector (SQLite state has one worker)."""
        return sorted(set(connectors))

    def holds(self, connector: str) -> bool:
        """Always: SQLite state has one worker."""
        return True

    def check_lease(self, connector: str) -> None:
        """Nothing to check: SQLite state has one worker."""

    def keep_alive(self, connector: str) -> None:
        """Nothing to renew: SQLite state has one worker."""

    def release_all(self) -> None:
        """Nothing to give back."""

    def lease_status(self) -> list[dict[str, Any]]:
        """No leases: one worker runs every connector of a SQLite state."""
        return []

    def live_workers(self) -> list[str]:
        """SQLite state keeps no worker list."""
        return []

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 for a new file)."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path}: the state schema is version {version}, newer than this "
                f"esc-sync's {SCHEMA_VERSION}; upgrade esc-sync"
            )
        for step in range(version, SCHEMA_VERSION):
            self.db.executescript(
                f"BEGIN; {MIGRATIONS[step]}; PRAGMA user_version={step + 1}; COMMIT;"
            )

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Run the body in one transaction that is always rolled back."""
        self.db.execute("BEGIN")
        self.dry = True
        try:
            yield
        finally:
            self.dry = False
            self.db.execute("ROLLBACK")

    @contextmanager
    def page_writes(self, connector: str) -> Iterator[None]:
        """One transaction for the body's writes (inside a dry run's, that one)."""
        del connector  # one worker owns a SQLite file: no lease to check
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- bookmarks --------------------------------------------------------------------------

    def bookmark(self, connector: str) -> str | None:
        """The saved change-feed position of a connector."""
        row = self.db.execute(
            "SELECT value FROM bookmarks WHERE connector = ?", (connector,)
        ).fetchone()
        return str(row[0]) if row else None

    def bookmarks(self) -> dict[str, str]:
        """Every connector's bookmark."""
        rows = self.db.execute("SELECT connector, value FROM bookmarks").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def set_bookmark(self, connector: str, value: str, now: datetime) -> None:
        """Move the bookmark (called only after a page is fully applied)."""
        self.db.execute(
            "INSERT INTO bookmarks VALUES (?, ?, ?) ON CONFLICT (connector) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (connector, value, now.isoformat()),
        )

    # -- mirror -----------------------------------------------------------------------------

    def observe(self, connector: str, ticket: Ticket) -> int:
        """Record a ticket in the mirror and return its episode (a reopen starts a new one)."""
        row = self.db.execute(
            "SELECT status, episode FROM mirror WHERE connector = ? AND ticket_id = ?",
            (connector, ticket.id),
        ).fetchone()
        episode = 1
        if row is not None:
            old_status, episode = str(row[0]), int(row[1])
            if old_status in CLOSED_STATUSES and ticket.status not in CLOSED_STATUSES:
                episode += 1
        self.db.execute(
            "INSERT INTO mirror VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
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
        row = self.db.execute(
            "SELECT episode FROM mirror WHERE connector = ? AND ticket_id = ?",
            (connector, ticket_id),
        ).fetchone()
        return int(row[0]) if row else 1

    def requester_tickets(self, connector: str, requester_id: int, since: datetime) -> int:
        """How many tickets the requester opened since `since` (from the mirror)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM mirror WHERE connector = ? AND requester_id = ? "
            "AND created_at >= ?",
            (connector, requester_id, since.isoformat()),
        ).fetchone()
        return int(row[0])

    def recent_tickets(
        self, connector: str, requester_id: int, exclude: int, limit: int = 5
    ) -> list[dict[str, Any]]:
        """The requester's other tickets, newest first, for the briefing's history."""
        rows = self.db.execute(
            "SELECT ticket_id, status, created_at, data FROM mirror WHERE connector = ? "
            "AND requester_id = ? AND ticket_id != ? ORDER BY created_at DESC LIMIT ?",
            (connector, requester_id, exclude, limit),
        ).fetchall()
        return [
            {
                "id": r[0],
                "status": r[1],
                "created_at": r[2],
                "subject": json.loads(r[3]).get("subject", ""),
            }
            for r in rows
        ]

    def mirrored(self, connector: str, ticket_id: int) -> Ticket | None:
        """The ticket as last seen, from the mirror (no API call)."""
        row = self.db.execute(
            "SELECT data FROM mirror WHERE connector = ? AND ticket_id = ?", (connector, ticket_id)
        ).fetchone()
        return load_ticket(row[0]) if row else None

    def mirror_count(self, connector: str) -> int:
        """Tickets in the mirror."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM mirror WHERE connector = ?", (connector,)
        ).fetchone()
        return int(row[0])

    # -- surge ------------------------------------------------------------------------------

    def set_surge_hit(
        self, connector: str, rule_id: str, ticket_id: int, created_at: datetime | None, hit: bool
    ) -> bool:
        """Add or remove a ticket from a surge rule's hits; True when it was newly added."""
        if not hit or created_at is None:
            self.db.execute(
                "DELETE FROM surge_hits WHERE connector = ? AND rule_id = ? AND ticket_id = ?",
                (connector, rule_id, ticket_id),
            )
            return False
        cur = self.db.execute(
            "INSERT OR IGNORE INTO surge_hits VALUES (?, ?, ?, ?)",
            (connector, rule_id, ticket_id, created_at.isoformat()),
        )
        return cur.rowcount > 0

    def surge_hits(
        self, connector: str, rule_id: str, start: datetime, end: datetime
    ) -> list[tuple[int, datetime]]:
        """(ticket id, created_at) of a rule's hits with created_at in [start, end]."""
        rows = self.db.execute(
            "SELECT ticket_id, created_at FROM surge_hits WHERE connector = ? AND rule_id = ? "
            "AND created_at >= ? AND created_at <= ? ORDER BY created_at",
            (connector, rule_id, start.isoformat(), end.isoformat()),
        ).fetchall()
        return [(int(r[0]), datetime.fromisoformat(r[1])) for r in rows]

    # -- ledger -----------------------------------------------------------------------------

    def ledger(self, connector: str, ticket_id: int, episode: int) -> dict[str, LedgerEntry]:
        """Every ledger entry of a ticket's episode, by key."""
        rows = self.db.execute(
            "SELECT key, state, detail FROM ledger WHERE connector = ? AND ticket_id = ? "
            "AND episode = ?",
            (connector, ticket_id, episode),
        ).fetchall()
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
        """Write down what is about to be written, before writing it."""
        self.db.execute(
            "INSERT INTO ledger VALUES (?, ?, ?, ?, 'intent', ?, ?, ?) "
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
        """Mark an intent as applied (merging `extra` into its detail)."""
        row = self.db.execute(
            "SELECT detail FROM ledger WHERE connector = ? AND ticket_id = ? AND episode = ? "
            "AND key = ?",
            (connector, ticket_id, episode, key),
        ).fetchone()
        detail = json.loads(row[0]) if row else {}
        detail.update(extra or {})
        self.db.execute(
            "INSERT INTO ledger VALUES (?, ?, ?, ?, 'done', ?, ?, ?) "
            "ON CONFLICT (connector, ticket_id, episode, key) DO UPDATE SET state = 'done', "
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

    def forget_intents(self, connector: str, ticket_id: int, episode: int) -> None:
        """Drop a ticket's open intents: the write they announced did not land."""
        self.db.execute(
            "DELETE FROM ledger WHERE connector = ? AND ticket_id = ? AND episode = ? "
            "AND state = 'intent'",
            (connector, ticket_id, episode),
        )

    def forget_keys(self, connector: str, ticket_id: int, episode: int, keys: list[str]) -> None:
        """Drop some open intents of a ticket."""
        self.db.executemany(
            "DELETE FROM ledger WHERE connector = ? AND ticket_id = ? AND episode = ? "
            "AND key = ? AND state = 'intent'",
            [(connector, ticket_id, episode, key) for key in keys],
        )

    def open_intents(self, connector: str) -> list[LedgerEntry]:
        """Intents without an outcome: a crash happened between announcing and recording."""
        rows = self.db.execute(
            "SELECT ticket_id, episode, key, state, detail FROM ledger WHERE connector = ? "
            "AND state = 'intent' ORDER BY ticket_id, episode, key",
            (connector,),
        ).fetchall()
        return [LedgerEntry(connector, r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def ledger_count(self, connector: str, state: str = "done") -> int:
        """How many ledger entries are in a state."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM ledger WHERE connector = ? AND state = ?", (connector, state)
        ).fetchone()
        return int(row[0])

    # -- dead letters -----------------------------------------------------------------------

    def dead_letter(
        self, connector: str, ticket_id: int | None, reason: str, payload: Any, now: datetime
    ) -> None:
        """Record a ticket that could not be read or written, with why."""
        self.db.execute(
            "INSERT INTO dead_letters (connector, ticket_id, reason, payload, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (connector, ticket_id, reason, json.dumps(payload, default=str), now.isoformat()),
        )

    def dead_letters(self, connector: str | None = None) -> list[dict[str, Any]]:
        """Recorded dead letters, oldest first."""
        sql = "SELECT id, connector, ticket_id, reason, at FROM dead_letters"
        args: tuple[Any, ...] = ()
        if connector:
            sql += " WHERE connector = ?"
            args = (connector,)
        rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        keys = ("id", "connector", "ticket", "reason", "at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def forget_dead_letters(
        self, connector: str, ticket_id: int, up_to_id: int | None = None
    ) -> int:
        """Delete a ticket's dead letters (only those with id <= up_to_id when given)."""
        sql = "DELETE FROM dead_letters WHERE connector = ? AND ticket_id = ?"
        args: tuple[Any, ...] = (connector, ticket_id)
        if up_to_id is not None:
            sql += " AND id <= ?"
            args += (up_to_id,)
        return self.db.execute(sql, args).rowcount

    # -- the ladder -------------------------------------------------------------------------

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
        self.db.execute(
            "UPDATE tier_entries SET state = 'left' WHERE connector = ? AND ticket_id = ? "
            "AND state = 'active'",
            (connector, ticket_id),
        )
        self.db.execute(
            "INSERT OR REPLACE INTO tier_entries "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 'active')",
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
        row = self.db.execute(
            "SELECT episode, tier, entered_at, respond_by, resolve_by, responded_at, paused_since "
            "FROM tier_entries WHERE connector = ? AND ticket_id = ? AND state = 'active'",
            (connector, ticket_id),
        ).fetchone()
        if row is None:
            return None
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
        self.db.execute(
            "UPDATE tier_entries SET respond_by = ?, resolve_by = ?, responded_at = ?, "
            "paused_since = ?, "
            "state = ? WHERE connector = ? AND ticket_id = ? AND episode = ? AND tier = ?",
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

    def set_due(self, connector: str, ticket_id: int, due_at: datetime | None) -> None:
        """Set (or clear) the next instant the ticket needs a look."""
        if due_at is None:
            self.db.execute(
                "DELETE FROM due WHERE connector = ? AND ticket_id = ?", (connector, ticket_id)
            )
            return
        self.db.execute(
            "INSERT INTO due VALUES (?, ?, ?) ON CONFLICT (connector, ticket_id) "
            "DO UPDATE SET due_at = excluded.due_at",
            (connector, ticket_id, sortable_utc(due_at)),
        )

    def due_tickets(self, connector: str, now: datetime, limit: int = 1000) -> list[int]:
        """Tickets whose due instant has come, earliest first (an indexed range scan)."""
        rows = self.db.execute(
            "SELECT ticket_id FROM due WHERE connector = ? AND due_at <= ? ORDER BY due_at LIMIT ?",
            (connector, sortable_utc(now), limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def next_due(self, connector: str) -> datetime | None:
        """The earliest due instant of a connector."""
        row = self.db.execute(
            "SELECT MIN(due_at) FROM due WHERE connector = ?", (connector,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def due_index_size(self, connector: str) -> int:
        """How many tickets the due index holds."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM due WHERE connector = ?", (connector,)
        ).fetchone()
        return int(row[0])


def sortable_utc(value: datetime) -> str:
    """A sortable UTC timestamp (the due index compares these as text)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
