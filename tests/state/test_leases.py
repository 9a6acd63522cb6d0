"""Leases and fencing on a real PostgreSQL: who runs which connector, and a stale holder's
writes refused. (SQLite state has one worker: it holds every connector.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from esc_sync.errors import LeaseLost
from esc_sync.model import Person, Ticket
from esc_sync.state.protocol import StateStore

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
Open = Callable[..., StateStore]


@pytest.fixture
def backend() -> str:
    """Leases are a PostgreSQL matter: these cases run on it only (SQLite has one worker)."""
    return "postgresql"


@pytest.fixture
def pg() -> None:
    """Marks the cases that need several workers on one database."""


def test_connectors_are_spread_over_live_workers(pg: None, open_state: Open) -> None:
    names = [f"c{i:02}" for i in range(20)]
    w1, w2, w3 = (open_state(f"w{n}") for n in (1, 2, 3))
    assert w1.balance(names) == names  # alone: takes all
    w2.balance(names)
    w3.balance(names)
    for _ in range(2):  # the first holder gives back beyond its share, the others take it
        for w in (w1, w2, w3):
            w.balance(names)
    held = [len(w.balance(names)) for w in (w1, w2, w3)]
    assert sorted(held) == [6, 7, 7] and sum(held) == 20
    owners = {row["connector"]: row["holder"] for row in w1.lease_status()}
    assert set(owners.values()) == {"w1", "w2", "w3"}


def test_a_clean_stop_gives_the_connectors_to_the_others_at_once(
    pg: None, open_state: Open
) -> None:
    w1, w2 = open_state("w1"), open_state("w2")
    assert w1.balance(["a"]) == ["a"]
    assert w2.balance(["a"]) == []
    w1.close()
    assert w2.balance(["a"]) == ["a"]


def test_a_stale_holder_cannot_move_a_bookmark_or_record_an_effect(
    pg: None, open_state: Open
) -> None:
    w1, w2 = open_state("w1", lease_ttl=0.5), open_state("w2", lease_ttl=0.5)
    assert w1.balance(["a"]) == ["a"]
    w1.set_bookmark("a", "c1", NOW)
    time.sleep(0.7)  # w1 paused past its lease (as under SIGSTOP)
    assert w2.balance(["a"]) == ["a"]
    w2.set_bookmark("a", "c2", NOW)
    with pytest.raises(LeaseLost):
        w1.set_bookmark("a", "stale", NOW)
    with pytest.raises(LeaseLost):
        w1.record_intent("a", 1, 1, "rule:x", {}, NOW)
    with pytest.raises(LeaseLost):
        w1.observe("a", Ticket(id=1, status="open", requester=Person(id=1)))
    assert w2.bookmark("a") == "c2" and w2.open_intents("a") == []
    assert w2.mirror_count("a") == 0
    assert not w1.holds("a")  # it knows now, and competes again at its next balance
    assert w1.balance(["a"]) == []


def test_a_stale_holder_cannot_write_a_page_either(pg: None, open_state: Open) -> None:
    w1, w2 = open_state("w1", lease_ttl=0.5), open_state("w2", lease_ttl=0.5)
    w1.balance(["a"])
    with w1.page_writes("a"):  # fenced once, then one transaction
        w1.observe("a", Ticket(id=1, status="open", requester=Person(id=1)))
        w1.observe("a", Ticket(id=2, status="open", requester=Person(id=1)))
    time.sleep(0.7)
    assert w2.balance(["a"]) == ["a"]
    with pytest.raises(LeaseLost), w1.page_writes("a"):
        w1.observe("a", Ticket(id=3, status="open", requester=Person(id=1)))
    assert w2.mirror_count("a") == 2


def test_an_expired_lease_is_refused_even_when_nobody_took_it(pg: None, open_state: Open) -> None:
    w1 = open_state("w1", lease_ttl=0.3)
    w1.balance(["a"])
    time.sleep(0.5)
    with pytest.raises(LeaseLost):
        w1.check_lease("a")
    assert w1.balance(["a"]) == ["a"]  # taken again, with a new token
    w1.set_bookmark("a", "c3", NOW)
    tokens = {r["connector"]: r["token"] for r in w1.lease_status()}
    assert tokens["a"] == 2


def test_writes_renew_the_lease(pg: None, open_state: Open) -> None:
    w1, w2 = open_state("w1", lease_ttl=0.6), open_state("w2", lease_ttl=0.6)
    w1.balance(["a"])
    for n in range(6):  # 1.2 s of writes, each renewing the 0.6 s lease
        w1.set_bookmark("a", f"c{n}", NOW)
        time.sleep(0.2)
    assert w2.balance(["a"]) == []


def test_a_dry_run_locks_nothing_a_live_worker_needs(pg: None, open_state: Open) -> None:
    live, dry = open_state("live"), open_state("dry")
    live.balance(["a"])
    live.set_bookmark("a", "c1", NOW)
    ticket = Ticket(id=9, status="open", requester=Person(id=1))
    done = threading.Event()
    with dry.dry_run():
        dry.observe("a", ticket)
        dry.set_bookmark("a", "dry", NOW)
        assert dry.bookmark("a") == "dry"

        def write() -> None:
            live.observe("a", ticket)
            live.set_bookmark("a", "c2", NOW)
            done.set()

        threading.Thread(target=write, daemon=True).start()
        assert done.wait(5), "the live worker was blocked by the dry run"
    assert live.bookmark("a") == "c2" and dry.bookmark("a") == "c2"
    assert live.mirror_count("a") == 1
