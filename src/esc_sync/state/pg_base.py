"""The PostgreSQL store's plumbing: a psycopg pool, errors without secrets, fenced writes.

Every write for a connector runs in one transaction that first renews that connector's lease
(`LeaseBoard.fence`): if this worker no longer holds it with its token, `LeaseLost` rolls the
transaction back and nothing is written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from esc_sync.errors import LeaseLost, StateUnavailable
from esc_sync.state.pg_leases import LeaseBoard

Row = tuple[Any, ...]


def describe(url: str) -> str:
    """The server as errors may name it: user, host, port and database, never a password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL server"
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    who = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{who}{host}:{port}/{info.get('dbname') or ''}"


def reason(exc: BaseException) -> str:
    """The first line of a driver error (libpq's messages carry no password)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PgBase(LeaseBoard):
    """A pool of connections to one database, and the fenced write of one connector."""

    def __init__(
        self,
        url: str,
        *,
        worker_id: str,
        lease_ttl: float = 30.0,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.where = describe(url)
        self.dry = False
        self._dry_conn: psycopg.Connection[Row] | None = None
        # thread -> (connector, connection) of an open `page_writes` transaction
        self._page_conn: dict[int, tuple[str, psycopg.Connection[Row]]] = {}
        self._wait = connect_timeout
        try:  # one direct connection first: its error says why (the pool's only "timed out")
            psycopg.connect(url, connect_timeout=max(int(connect_timeout), 1)).close()
        except psycopg.Error as exc:
            raise StateUnavailable(
                f"state database {self.where} cannot be reached: {reason(exc)}"
            ) from None
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(int(connect_timeout), 1)},
            open=False,
            name="esc-sync-state",
        )
        self.pool.open(wait=True, timeout=connect_timeout)
        LeaseBoard.__init__(self, worker_id=worker_id, lease_ttl=lease_ttl)

    # -- connections ----------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Row]]:
        """A connection (the dry run's own while one runs); driver errors → StateUnavailable."""
        if self._dry_conn is not None:
            yield self._dry_conn
            return
        held = self._page_conn.get(threading.get_ident())
        if held is not None:
            yield held[1]
            return
        with self.pooled() as conn:
            yield conn

    @contextmanager
    def pooled(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection even during a dry run (for rows shared by every worker)."""
        try:
            with self.pool.connection(timeout=self._wait) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StateUnavailable(
                f"state database {self.where}: connection lost or refused: {reason(exc)}"
            ) from None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self.connection() as conn:
            return conn.execute(sql, args).fetchall()

    @contextmanager
    def page_writes(self, connector: str) -> Iterator[None]:
        """One fenced transaction on one connection for this thread's writes of `connector`
        inside the body. The lease is checked at the end, just before the commit, so the lease
        row is locked only for that instant (a worker stalled inside the body never blocks a
        takeover), and the server ends a transaction left idle longer than the lease TTL (a
        paused worker's row locks do not outlive its lease)."""
        if self._dry_conn is not None or threading.get_ident() in self._page_conn:
            yield
            return
        if self.fencing and connector not in self.tokens:
            raise LeaseLost(connector)
        with self.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
                (str(max(int(self.lease_ttl * 1000), 1000)),),
            )
            self._page_conn[threading.get_ident()] = (connector, conn)
            try:
                yield
            finally:
                del self._page_conn[threading.get_ident()]
            if self.fencing:
                self.fence(conn, connector)  # still ours? else LeaseLost: all rolled back

    @contextmanager
    def _fenced(self, connector: str) -> Iterator[psycopg.Connection[Row]]:
        """One transaction whose writes land only while this worker holds `connector`."""
        held = self._page_conn.get(threading.get_ident())
        if held is not None and held[0] == connector:
            yield held[1]  # inside `page_writes`: its transaction, fenced at its end
            return
        if self.fencing and self._dry_conn is None and connector not in self.tokens:
            raise LeaseLost(connector)
        with self.connection() as conn:
            if self._dry_conn is not None:
                yield conn
                return
            with conn.transaction():
                yield conn
                if self.fencing:  # last, so the lease row is locked only until the commit
                    self.fence(conn, connector)

    def _write(self, connector: str, sql: str, args: Sequence[Any] = ()) -> int:
        with self._fenced(connector) as conn:
            return conn.execute(sql, args).rowcount
