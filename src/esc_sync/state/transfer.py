"""Copy a state from one store into another (`esc-sync state migrate --to URL`).

The source is read table by table; the target is written in one transaction with COPY, so a
failed copy leaves the target as it was. A target that already holds state is refused unless
`replace` is given (then its data tables are emptied first, in the same transaction).
Leases and workers are not copied: they belong to the running workers of the target.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from esc_sync.errors import StateError
from esc_sync.state.pg_schema import DATA_TABLES
from esc_sync.state.postgres import PgStore
from esc_sync.state.sqlite import Store


@dataclass
class Copied:
    """Rows copied per table."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows copied in all."""
        return sum(self.rows.values())


def copy_sqlite_to_postgres(source: Path, target: PgStore, *, replace: bool = False) -> Copied:
    """Copy every data table of a SQLite state file into a PostgreSQL state."""
    if not source.exists():
        raise StateError(f"{source}: no such state file to copy")
    Store(source).close()  # brings an older file up to the current schema first
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copied = Copied()
    try:
        with target.connection() as conn, conn.transaction():
            present = {
                table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # type: ignore[index]
                for table in DATA_TABLES
            }
            if sum(present.values()) and not replace:
                held = ", ".join(f"{t} {n}" for t, n in present.items() if n)
                raise StateError(
                    f"{target.where} already holds a state ({held} rows); "
                    "pass --force to replace it"
                )
            if replace:
                conn.execute("TRUNCATE " + ", ".join(DATA_TABLES))
            for table, columns in DATA_TABLES.items():
                cols = ", ".join(columns)
                n = 0
                with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in src.execute(f"SELECT {cols} FROM {table}"):
                        copy.write_row(row)
                        n += 1
                copied.rows[table] = n
            conn.execute(
                "SELECT setval('dead_letters_id_seq', "
                "GREATEST((SELECT MAX(id) FROM dead_letters), 1))"
            )
    finally:
        src.close()
    return copied
