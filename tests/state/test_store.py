"""The state store on both backends: schema, bookmarks, episodes, ledger, dry-run rollback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.model import Person, Ticket
from esc_sync.state.protocol import StateStore

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def ticket(tid: int, status: str = "open", requester: int = 1, age_days: int = 1) -> Ticket:
    """A ticket as the mirror sees it."""
    return Ticket(
        id=tid,
        status=status,
        requester=Person(id=requester),
        created_at=NOW - timedelta(days=age_days),
        updated_at=NOW,
    )


def test_new_store_has_the_current_schema_and_reopens_keep_it(
    open_state: Callable[..., StateStore], backend: str
) -> None:
    from esc_sync.state.migrations import SCHEMA_VERSION
    from esc_sync.state.pg_schema import PG_SCHEMA_VERSION

    open_state().close()
    store = open_state()
    assert store.schema_version() == (SCHEMA_VERSION if backend == "sqlite" else PG_SCHEMA_VERSION)


def test_reopen_starts_a_new_episode(store: StateStore) -> None:
    assert store.observe("zd", ticket(1)) == 1
    assert store.observe("zd", ticket(1, "solved")) == 1
    assert store.observe("zd", ticket(1, "open")) == 2
    assert store.episode("zd", 1) == 2


def test_requester_history_counts_by_window(store: StateStore) -> None:
    for tid, age in ((1, 1), (2, 10), (3, 45)):
        store.observe("zd", ticket(tid, age_days=age))
    assert store.requester_tickets("zd", 1, NOW - timedelta(days=30)) == 2
    assert store.requester_tickets("zd", 1, NOW - timedelta(days=90)) == 3


def test_ledger_intent_then_done_and_forget(store: StateStore) -> None:
    store.record_intent("zd", 1, 1, "rule:x", {"marker": "esc-sync:x:t2:ep1"}, NOW)
    store.record_intent("zd", 1, 1, "task:a", {}, NOW)
    assert [e.key for e in store.open_intents("zd")] == ["rule:x", "task:a"]
    store.record_done("zd", 1, 1, "rule:x", NOW, {"note": 1})
    assert store.ledger("zd", 1, 1)["rule:x"].detail == {"marker": "esc-sync:x:t2:ep1", "note": 1}
    store.forget_intents("zd", 1, 1)
    assert set(store.ledger("zd", 1, 1)) == {"rule:x"}


def test_dry_run_leaves_no_trace(store: StateStore) -> None:
    store.set_bookmark("zd", "c1", NOW)
    with store.dry_run():
        store.set_bookmark("zd", "c2", NOW)
        store.observe("zd", ticket(9))
        assert store.bookmark("zd") == "c2"
    assert store.bookmark("zd") == "c1"
    assert store.mirror_count("zd") == 0


def test_surge_hits_add_once_and_drop(store: StateStore) -> None:
    assert store.set_surge_hit("zd", "surge", 1, NOW, True) is True
    assert store.set_surge_hit("zd", "surge", 1, NOW, True) is False
    store.set_surge_hit("zd", "surge", 1, NOW, False)
    assert store.surge_hits("zd", "surge", NOW - timedelta(hours=1), NOW) == []


def test_forget_dead_letters_by_ticket_and_up_to_an_id(store: StateStore) -> None:
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


def test_a_schema_newer_than_the_code_is_refused_naming_both_versions(
    open_state: Callable[..., StateStore], backend: str, state_url: str
) -> None:
    from esc_sync.errors import SchemaTooNew

    open_state().close()
    if backend == "sqlite":
        import sqlite3

        db = sqlite3.connect(state_url.removeprefix("sqlite:///"))
        db.execute("PRAGMA user_version = 99")
        db.close()
    else:
        import psycopg

        with psycopg.connect(state_url, autocommit=True) as conn:
            conn.execute("UPDATE esc_sync_schema SET version = 99")
    try:
        open_state()
    except SchemaTooNew as exc:
        assert "version 99" in str(exc) and "esc-sync's" in str(exc)
    else:
        raise AssertionError("a newer schema was accepted")


def test_sqlite_history_from_the_first_version_keeps_the_data(tmp_path: Path) -> None:
    import sqlite3

    from esc_sync.state.migrations import MIGRATIONS, SCHEMA_VERSION
    from esc_sync.state.sqlite import Store

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    db.execute("INSERT INTO bookmarks VALUES ('zd', 'c7', '2026-03-01T00:00:00+00:00')")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.bookmark("zd") == "c7"
    assert store.active_entry("zd", 1) is None  # the ladder's tables exist


def test_sqlite_state_holds_every_connector(tmp_path: Path) -> None:
    from esc_sync.state.sqlite import Store

    store = Store(tmp_path / "s.db")
    assert store.balance(["b", "a"]) == ["a", "b"]
    store.check_lease("a")
    store.set_bookmark("a", "c1", NOW)
    assert store.lease_status() == []


def test_postgresql_history_from_empty_to_current_and_several_starting_at_once() -> None:
    from tests.pg import fresh_database

    with fresh_database() as state_url:
        _start_four_at_once(state_url)


def _start_four_at_once(state_url: str) -> None:
    import threading

    from esc_sync.state.open import open_store
    from esc_sync.state.pg_schema import PG_SCHEMA_VERSION

    stores: list[StateStore] = []
    errors: list[BaseException] = []

    def start(n: int) -> None:
        try:
            stores.append(open_store(state_url, worker_id=f"w{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version() for s in stores} == {PG_SCHEMA_VERSION}
    for s in stores:
        s.close()


def test_postgresql_history_from_the_first_version_keeps_the_data() -> None:
    import psycopg

    from esc_sync.state.open import open_store
    from esc_sync.state.pg_schema import PG_MIGRATIONS, PG_SCHEMA_VERSION
    from tests.pg import fresh_database

    with fresh_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:  # a database left at version 1
            conn.execute("CREATE TABLE esc_sync_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO esc_sync_schema VALUES (1)")
            conn.execute(PG_MIGRATIONS[0])  # type: ignore[arg-type]
            conn.execute("INSERT INTO bookmarks VALUES ('zd', 'c7', '2026-03-01T00:00:00+00:00')")
        store = open_store(url, worker_id="w1")
        try:
            assert store.schema_version() == PG_SCHEMA_VERSION
            assert store.bookmark("zd") == "c7"
            store.balance(["zd"])
            store.put_record("zd", "contact", "7", {"tags": ["vip"]}, NOW)
            assert store.record("zd", "contact", "7") == {"tags": ["vip"]}
        finally:
            store.close()


def test_records_are_kept_per_connector(store: StateStore) -> None:
    assert store.record("zd", "contact", "1") is None
    store.put_record("zd", "contact", "1", {"tags": ["vip"]}, NOW)
    store.put_record("zd", "contact", "1", {"tags": []}, NOW)
    assert store.record("zd", "contact", "1") == {"tags": []}
    assert store.record("fd", "contact", "1") is None


def test_a_pages_writes_land_together_or_not_at_all(store: StateStore) -> None:
    with store.page_writes("zd"):
        for tid in (1, 2, 3):
            store.observe("zd", ticket(tid))
        store.set_due("zd", 1, NOW + timedelta(hours=1))
    assert store.mirror_count("zd") == 3 and store.due_index_size("zd") == 1

    class Stop(Exception):
        pass

    try:
        with store.page_writes("zd"):
            store.observe("zd", ticket(4))
            raise Stop
    except Stop:
        pass
    assert store.mirror_count("zd") == 3  # the failed page left nothing behind


def test_page_writes_inside_a_dry_run_leave_no_trace(store: StateStore) -> None:
    with store.dry_run(), store.page_writes("zd"):
        store.observe("zd", ticket(1))
        assert store.mirror_count("zd") == 1
    assert store.mirror_count("zd") == 0
