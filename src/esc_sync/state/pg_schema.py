"""The PostgreSQL state store's schema, as numbered migrations (its own history).

Version 1 holds everything the SQLite store had at its version 2, plus what several workers
share: connector leases with fencing tokens, live workers, and each helpdesk account's API
budget. Timestamps of the ticket data stay ISO-8601 text, compared as text exactly as the
SQLite store compares them (the due index keeps one sortable UTC form); lease and worker times
are `timestamptz` read from the database's own clock, so hosts whose clocks disagree still
agree on who holds what.

Migrations run in one transaction under a transaction-scoped advisory lock, so several workers
starting at once on an empty database create the schema once.
"""

from __future__ import annotations

PG_SCHEMA_VERSION = 3

# An arbitrary constant: the key of the transaction-scoped lock that serialises migrations.
MIGRATION_LOCK = 7_114_532_901

PG_MIGRATIONS: list[str] = [
    """
    CREATE TABLE bookmarks (
        connector TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE mirror (
        connector TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        status TEXT NOT NULL,
        episode INTEGER NOT NULL,
        tier TEXT,
        requester_id BIGINT,
        created_at TEXT,
        updated_at TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (connector, ticket_id)
    );
    CREATE INDEX mirror_requester ON mirror (connector, requester_id, created_at);
    CREATE TABLE ledger (
        connector TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        episode INTEGER NOT NULL,
        key TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('intent', 'done')),
        detail TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (connector, ticket_id, episode, key)
    );
    CREATE INDEX ledger_state ON ledger (connector, state);
    CREATE TABLE dead_letters (
        id BIGSERIAL PRIMARY KEY,
        connector TEXT NOT NULL,
        ticket_id BIGINT,
        reason TEXT NOT NULL,
        payload TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE surge_hits (
        connector TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (connector, rule_id, ticket_id)
    );
    CREATE INDEX surge_window ON surge_hits (connector, rule_id, created_at);
    CREATE TABLE tier_entries (
        connector TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        episode INTEGER NOT NULL,
        tier TEXT NOT NULL,
        entered_at TEXT NOT NULL,
        respond_by TEXT NOT NULL,
        resolve_by TEXT NOT NULL,
        responded_at TEXT,
        paused_since TEXT,
        state TEXT NOT NULL CHECK (state IN ('active', 'left', 'resolved', 'moved')),
        PRIMARY KEY (connector, ticket_id, episode, tier)
    );
    CREATE INDEX tier_entries_active ON tier_entries (connector, ticket_id, state);
    CREATE TABLE due (
        connector TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        due_at TEXT NOT NULL,
        PRIMARY KEY (connector, ticket_id)
    );
    CREATE INDEX due_at ON due (connector, due_at);
    CREATE TABLE leases (
        connector TEXT PRIMARY KEY,
        holder TEXT,
        token BIGINT NOT NULL DEFAULT 0,
        expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
        acquired_at TIMESTAMPTZ
    );
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE api_budgets (
        account TEXT PRIMARY KEY,
        resume_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
        quota_limit INTEGER,
        remaining INTEGER,
        seen_at TIMESTAMPTZ,
        spent INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: small records a connector keeps between cycles (Freshdesk contacts, listing cursors)
    """
    CREATE TABLE records (
        connector TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (connector, kind, key)
    );
    """,
    # 3: webhook pokes any worker's listener received, waiting for the connector's lease holder
    """
    CREATE TABLE pokes (
        connector TEXT NOT NULL,
        ticket_id BIGINT NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (connector, ticket_id)
    );
    """,
]

# The tables that hold one state (what `state migrate` copies and a dry run shadows), in an
# order that respects nothing but readability: there are no foreign keys.
DATA_TABLES: dict[str, tuple[str, ...]] = {
    "bookmarks": ("connector", "value", "updated_at"),
    "mirror": (
        "connector",
        "ticket_id",
        "status",
        "episode",
        "tier",
        "requester_id",
        "created_at",
        "updated_at",
        "data",
    ),
    "ledger": (
        "connector",
        "ticket_id",
        "episode",
        "key",
        "state",
        "detail",
        "created_at",
        "updated_at",
    ),
    "dead_letters": ("id", "connector", "ticket_id", "reason", "payload", "at"),
    "surge_hits": ("connector", "rule_id", "ticket_id", "created_at"),
    "tier_entries": (
        "connector",
        "ticket_id",
        "episode",
        "tier",
        "entered_at",
        "respond_by",
        "resolve_by",
        "responded_at",
        "paused_since",
        "state",
    ),
    "due": ("connector", "ticket_id", "due_at"),
    "records": ("connector", "kind", "key", "value", "updated_at"),
}
