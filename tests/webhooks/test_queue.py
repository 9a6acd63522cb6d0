"""The poke queue: bounded, coalescing, per connector, waking its waiter."""

from __future__ import annotations

import threading
import time

from esc_sync.webhooks.queue import PokeQueue


def test_pokes_coalesce_per_ticket_and_keep_order() -> None:
    pokes = PokeQueue()
    results = [pokes.put("zd", t) for t in (3, 1, 3, 2, 1)]
    assert results == ["queued", "queued", "coalesced", "queued", "coalesced"]
    pokes.put("fd", 3)
    assert pokes.take("zd") == [3, 1, 2]
    assert pokes.take("zd") == []
    assert pokes.take("fd") == [3]
    assert (pokes.stats.queued, pokes.stats.coalesced) == (4, 2)


def test_bound_counts_distinct_waiting_tickets() -> None:
    pokes = PokeQueue(limit=2)
    assert [pokes.put("zd", 1), pokes.put("fd", 1), pokes.put("zd", 2)] == [
        "queued",
        "queued",
        "full",
    ]
    pokes.take("fd")
    assert pokes.put("zd", 2) == "queued"
    assert pokes.stats.refused == 1


def test_wait_returns_at_once_on_a_poke_for_a_named_connector() -> None:
    pokes = PokeQueue()
    threading.Timer(0.05, pokes.put, args=("zd", 1)).start()
    started = time.monotonic()
    assert pokes.wait(5.0, ["zd"])
    assert time.monotonic() - started < 2.0


def test_wait_ignores_pokes_for_connectors_it_does_not_run() -> None:
    pokes = PokeQueue()
    pokes.put("someone-elses", 1)
    assert not pokes.wait(0.05, ["zd"])
    assert pokes.wait(0.05)


def test_wake_releases_a_waiter() -> None:
    pokes = PokeQueue()
    threading.Timer(0.05, pokes.wake).start()
    started = time.monotonic()
    assert not pokes.wait(5.0, ["zd"])
    assert time.monotonic() - started < 2.0


def test_threads_putting_concurrently_lose_nothing() -> None:
    pokes = PokeQueue()

    def burst(offset: int) -> None:
        for i in range(500):
            pokes.put("zd", offset + i % 50)

    threads = [threading.Thread(target=burst, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(pokes.take("zd")) == sorted(k * 1000 + i for k in range(4) for i in range(50))
