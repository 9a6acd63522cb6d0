"""Read-only access to a state store file, for reports: never creates or changes anything."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MIRROR_SQL = (
    "SELECT connector, ticket_id, status, tier, requester_id, created_at, updated_at, data "
    "FROM mirror ORDER BY connector, ticket_id"
)
_ENTRIES_SQL = (
    "SELECT connector, ticket_id, episode, tier, entered_at, respond_by, resolve_by, "
    "responded_at, state FROM tier_entries ORDER BY connector, ticket_id, entered_at"
)


@dataclass(slots=True)
class StoreRows:
    """Raw rows of the mirror, the tier entries and the due index's size per connector."""

    mirror: list[tuple[Any, ...]] = field(default_factory=list)
    tier_entries: list[tuple[Any, ...]] | None = None  # None: the store predates tier entries
    due_index: dict[str, int] = field(default_factory=dict)


def read_rows(path: Path) -> StoreRows:
    """The rows a report needs, read through a read-only connection (absent file: empty)."""
    rows = StoreRows()
    if not path.exists():
        return rows
    db = sqlite3.connect(f"file:{path.resolve().as_posix()}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "mirror" in tables:
            rows.mirror = list(db.execute(_MIRROR_SQL))
        if "tier_entries" in tables:
            rows.tier_entries = list(db.execute(_ENTRIES_SQL))
        if "due" in tables:
            counted = db.execute("SELECT connector, COUNT(*) FROM due GROUP BY connector")
            rows.due_index = {str(r[0]): int(r[1]) for r in counted}
    finally:
        db.close()
    return rows
