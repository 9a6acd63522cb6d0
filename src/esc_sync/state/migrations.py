"""The SQLite state store's schema, as numbered migrations (`PRAGMA user_version`)."""

from __future__ import annotations

SCHEMA_VERSION = 3

# Each entry migrates from version i to i + 1 (index 0 creates the schema).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE bookmarks (
        connector TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE mirror (
        connector TEXT NOT NULL,
        ticket_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        episode INTEGER NOT NULL,
        tier TEXT,
        requester_id INTEGER,
        created_at TEXT,
        updated_at TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (connector, ticket_id)
    );
    CREATE INDEX mirror_requester ON mirror (connector, requester_id, created_at);
    CREATE TABLE ledger (
        connector TEXT NOT NULL,
        ticket_id INTEGER NOT NULL,
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
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector TEXT NOT NULL,
        ticket_id INTEGER,
        reason TEXT NOT NULL,
        payload TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE surge_hits (
        connector TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        ticket_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (connector, rule_id, ticket_id)
    );
    CREATE INDEX surge_window ON surge_hits (connector, rule_id, created_at);
    """,
    # 2: the tier ladder (one row per tier a ticket entered in an episode) and the due index
    # (the next instant at which each open ticket's decision could change).
    """
    CREATE TABLE tier_entries (
        connector TEXT NOT NULL,
        ticket_id INTEGER NOT NULL,
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
        ticket_id INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        PRIMARY KEY (connector, ticket_id)
    );
    CREATE INDEX due_at ON due (connector, due_at);
    """,
    # 3: records connectors keep between cycles (Freshdesk contacts, ratings, listing cursors)
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
]
