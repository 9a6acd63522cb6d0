"""Every state store test runs on both backends: SQLite and a real PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_sync.state.protocol import StateStore
from tests.pg import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend's name (a test may ask only for this)."""
    return str(request.param)


@pytest.fixture
def state_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty state of the backend, as a URL `open_store` takes."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 's.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def open_state(state_url: str) -> Iterator[object]:
    """A factory opening the same state again and again (closed at the end)."""
    from esc_sync.state.open import open_store

    opened: list[StateStore] = []

    def make(worker_id: str = "w1", lease_ttl: float = 30.0) -> StateStore:
        store = open_store(state_url, worker_id=worker_id, lease_ttl=lease_ttl)
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def store(open_state: object) -> StateStore:
    """An empty store that holds the connectors the tests use ("zd", "fd")."""
    s: StateStore = open_state()  # type: ignore[operator]
    s.balance(["zd", "fd", "fake"])
    return s
