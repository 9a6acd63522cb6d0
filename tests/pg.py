"""A private PostgreSQL for tests: the server `scripts/pg-up` started, a fresh database each.

`pg_server()` reads `<repo>/.pg/env` (or `ESC_SYNC_TEST_PG_URL` with `PGPASSWORD` in the
environment). When no server answers, PostgreSQL cases are skipped with the reason (`-ra`
prints it); with `ESC_SYNC_REQUIRE_PG=1` (CI) a missing server fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PgServer:
    """Where the test server listens, and its superuser's password (libpq's PGPASSWORD)."""

    url: str  # no password: postgresql://esc_sync@127.0.0.1:PORT/postgres
    password: str

    def database_url(self, name: str) -> str:
        """The URL of one database on this server."""
        return self.url.rsplit("/", 1)[0] + "/" + name

    def env(self) -> dict[str, str]:
        """Environment for a child process that connects (libpq reads PGPASSWORD)."""
        return {"PGPASSWORD": self.password}


def _read_env() -> dict[str, str]:
    if os.environ.get("ESC_SYNC_TEST_PG_URL"):
        return {
            "PG_URL": os.environ["ESC_SYNC_TEST_PG_URL"],
            "PGPASSWORD": os.environ.get("PGPASSWORD", ""),
        }
    path = ROOT / ".pg" / "env"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


_SERVER: PgServer | str | None = "unknown"


def pg_server() -> PgServer:
    """The running test server, or skip (fail under ESC_SYNC_REQUIRE_PG=1) with why."""
    global _SERVER
    if _SERVER == "unknown":
        _SERVER = None
        env = _read_env()
        if env.get("PG_URL"):
            import psycopg

            server = PgServer(env["PG_URL"], env.get("PGPASSWORD", ""))
            os.environ.setdefault("PGPASSWORD", server.password)
            try:
                psycopg.connect(server.url, connect_timeout=3).close()
                _SERVER = server
            except psycopg.Error:
                _SERVER = None
    if isinstance(_SERVER, PgServer):
        return _SERVER
    reason = "PostgreSQL not running: run scripts/pg-up"
    if os.environ.get("ESC_SYNC_REQUIRE_PG") == "1":
        pytest.fail(f"ESC_SYNC_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database on the test server (dropped afterwards); yields its URL."""
    import psycopg

    server = pg_server()
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.database_url(name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
