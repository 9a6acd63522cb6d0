"""Webhook pokes with several workers: any listener records them, the lease holder takes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import pytest

from esc_sync.errors import LeaseLost
from esc_sync.state.protocol import StateStore
from esc_sync.worker.pokes import PokeStore, SharedPokes


@pytest.fixture
def backend() -> str:
    """Shared pokes are a PostgreSQL matter (SQLite state has one worker, one queue)."""
    return "postgresql"


def pokes_of(store: StateStore, limit: int = 100) -> SharedPokes:
    return SharedPokes(cast(PokeStore, store), limit)


def test_a_poke_received_by_another_worker_reaches_the_holder(
    open_state: Callable[..., StateStore],
) -> None:
    holder, other = open_state("holder"), open_state("other")
    assert holder.balance(["zd"]) == ["zd"]
    assert other.balance(["zd"]) == []
    mine, theirs = pokes_of(holder), pokes_of(other)

    assert theirs.put("zd", 7) == "queued"
    assert theirs.put("zd", 7) == "coalesced"  # a ticket waits once
    started = time.monotonic()
    assert mine.wait(5.0, ["zd"]) is True
    assert time.monotonic() - started < 1.0
    with pytest.raises(LeaseLost):
        theirs.take("zd")  # not its lease: the pokes stay for the holder
    assert mine.take("zd") == [7]
    assert mine.take("zd") == []


def test_pokes_wait_for_the_next_holder_and_the_table_is_bounded(
    open_state: Callable[..., StateStore],
) -> None:
    first = open_state("first", lease_ttl=0.3)
    first.balance(["zd"])
    shared = pokes_of(first, limit=2)
    assert [shared.put("zd", n) for n in (1, 2, 3)] == ["queued", "queued", "full"]
    first.close()  # gone: its leases given back, the pokes still wait in the database
    second = open_state("second")
    assert second.balance(["zd"]) == ["zd"]
    later = pokes_of(second)
    assert later.wait(2.0, ["zd"]) is True
    assert later.take("zd") == [1, 2]
