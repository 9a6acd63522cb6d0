"""Open the state store a config names: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import os
import socket

from esc_sync.state.protocol import StateStore


def default_worker_id() -> str:
    """This process as the lease tables name it: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgres(url: str) -> bool:
    """Whether a state URL names a PostgreSQL database."""
    return url.startswith(("postgresql://", "postgres://"))


def open_store(url: str, *, worker_id: str = "", lease_ttl: float = 30.0) -> StateStore:
    """The store behind `url` (`sqlite:///PATH` or `postgresql://…`); raise StateError if it
    cannot be reached (StateUnavailable) or is newer than this code (SchemaTooNew)."""
    if is_postgres(url):
        from esc_sync.state.postgres import PgStore

        return PgStore(url, worker_id=worker_id or default_worker_id(), lease_ttl=lease_ttl)
    from esc_sync.state.sqlite import Store

    return Store(url.removeprefix("sqlite:///"))
