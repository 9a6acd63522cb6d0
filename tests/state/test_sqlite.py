"""The state store: schema, bookmarks, episodes, ledger, dry-run rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.model import Person, Ticket
from esc_sync.state.sqlite import SCHEMA_VERSION, Store

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def ticket(tid: int, status: str = "open", requester: int = 1, age_days: int = 1) -> Ticket:
    """A ticket as the mirror sees it."""
    return Ticket(id=tid, status=status, requester=Person(id=requester),
                  created_at=NOW - timedelta(days=age_days), updated_at=NOW)


def test_new_store_has_the_current_schema_and_reopens_keep_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION


def test_reopen_starts_a_new_episode(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.observe("zd", ticket(1)) == 1
    assert store.observe("zd", ticket(1, "solved")) == 1
    assert store.observe("zd", ticket(1, "open")) == 2
    assert store.episode("zd", 1) == 2


def test_requester_history_counts_by_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for tid, age in ((1, 1), (2, 10), (3, 45)):
        store.observe("zd", ticket(tid, age_days=age))
    assert store.requester_tickets("zd", 1, NOW - timedelta(days=30)) == 2
    assert store.requester_tickets("zd", 1, NOW - timedelta(days=90)) == 3


def test_ledger_intent_then_done_and_forget(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.record_intent("zd", 1, 1, "rule:x", {"marker": "esc-sync:x:t2:ep1"}, NOW)
    store.record_intent("zd", 1, 1, "task:a", {}, NOW)
    assert [e.key for e in store.open_intents("zd")] == ["rule:x", "task:a"]
    store.record_done("zd", 1, 1, "rule:x", NOW, {"note": 1})
    assert store.ledger("zd", 1, 1)["rule:x"].detail == {"marker": "esc-sync:x:t2:ep1", "note": 1}
    store.forget_intents("zd", 1, 1)
    assert set(store.ledger("zd", 1, 1)) == {"rule:x"}


def test_dry_run_leaves_no_trace(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.set_bookmark("zd", "c1", NOW)
    with store.dry_run():
        store.set_bookmark("zd", "c2", NOW)
        store.observe("zd", ticket(9))
        assert store.bookmark("zd") == "c2"
    assert store.bookmark("zd") == "c1"
    assert store.mirror_count("zd") == 0


def test_surge_hits_add_once_and_drop(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.set_surge_hit("zd", "surge", 1, NOW, True) is True
    assert store.set_surge_hit("zd", "surge", 1, NOW, True) is False
    store.set_surge_hit("zd", "surge", 1, NOW, False)
    assert store.surge_hits("zd", "surge", NOW - timedelta(hours=1), NOW) == []


def test_forget_dead_letters_by_ticket_and_up_to_an_id(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    now = datetime(2024, 3, 1, tzinfo=UTC)
    store.dead_letter("zd", 7, "HTTP 422", None, now)
    store.dead_letter("zd", 7, "HTTP 422 again", None, now)
    store.dead_letter("zd", 8, "HTTP 404", None, now)
    store.dead_letter("fd", 7, "HTTP 400", None, now)
    first = store.dead_letters("zd")[0]["id"]
    assert store.forget_dead_letters("zd", 7, up_to_id=first) == 1
    assert [r["reason"] for r in store.dead_letters("zd")] == ["HTTP 422 again", "HTTP 404"]
    assert store.forget_dead_letters("zd", 7) == 1
    assert [r["ticket"] for r in store.dead_letters()] == [8, 7]  # zd 8 and fd 7 untouched
