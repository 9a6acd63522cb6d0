"""Connector leases with fencing tokens on PostgreSQL: which worker runs which connector.

    leases:  connector │ holder │ token │ expires_at        (one row per connector)
    workers: worker_id │ seen_at │ expires_at              (one row per live worker)

Each daemon tick a worker calls `balance`: it heartbeats its `workers` row, renews the leases
it still holds with the token it was given, gives back any beyond its fair share
(⌈connectors ÷ live workers⌉), and takes free or expired ones up to that share with
`FOR UPDATE SKIP LOCKED`, bumping each one's token. Every state write for a connector is then
fenced (`fence`): in the write's own transaction, the lease row is renewed only if holder,
token and expiry still match, else `LeaseLost` and the transaction rolls back. Row locks and
transaction-scoped statements only, never session advisory locks (they break behind
PgBouncer's transaction pooling). All lease times come from the database's clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, suppress
from typing import Any

import psycopg

from esc_sync.errors import LeaseLost, StateUnavailable

Row = tuple[Any, ...]

_TTL = "make_interval(secs => %s)"


class LeaseBoard:
    """The lease side of the PostgreSQL store (mixed into `PgStore`)."""

    def __init__(self, *, worker_id: str, lease_ttl: float) -> None:
        self.worker_id = worker_id
        self.lease_ttl = lease_ttl
        self.tokens: dict[str, int] = {}  # connector → the fencing token this worker holds
        self.renewed_at: dict[str, float] = {}  # connector → when its lease was last renewed
        self.fencing = True

    def connection(self) -> AbstractContextManager[psycopg.Connection[Row]]:
        raise NotImplementedError  # provided by PgStore

    # -- fencing --------------------------------------------------------------------------

    def fence(self, conn: psycopg.Connection[Row], connector: str) -> None:
        """Inside a write's transaction: renew the lease if still ours, else LeaseLost."""
        token = self.tokens.get(connector)
        if token is None:
            raise LeaseLost(connector)
        renewed = conn.execute(
            f"UPDATE leases SET expires_at = clock_timestamp() + {_TTL} "
            "WHERE connector = %s AND holder = %s AND token = %s "
            "AND expires_at > clock_timestamp()",
            (self.lease_ttl, connector, self.worker_id, token),
        ).rowcount
        if renewed != 1:
            self.tokens.pop(connector, None)
            raise LeaseLost(connector)
        self.renewed_at[connector] = time.monotonic()

    def keep_alive(self, connector: str) -> None:
        """A helpdesk answered this worker's request for `connector`, or the worker is waiting
        on purpose in its cycle (a 429's Retry-After, a quota pause, between bulk job polls,
        told every third of the TTL): it is alive, so renew the lease if a third of its TTL
        passed since the last renewal. A long run of reads (a first sync under faults) or a
        long rate-limit pause then keeps the lease, while a stalled worker (a hung call, a
        SIGSTOP), which neither gets answers nor counts its pauses, loses it. Never raises: a
        lease found lost here makes the next state write raise `LeaseLost`."""
        if connector not in self.tokens:
            return  # not ours (a page transaction locks the lease row only at its commit)
        if time.monotonic() - self.renewed_at.get(connector, 0.0) < self.lease_ttl / 3:
            return
        with suppress(LeaseLost, StateUnavailable):
            self.check_lease(connector)

    def holds(self, connector: str) -> bool:
        """Whether this worker believes it holds the connector (the fence has the last word)."""
        return connector in self.tokens

    def check_lease(self, connector: str) -> None:
        """Before a batch of helpdesk writes: renew the lease, or raise LeaseLost."""
        if not self.fencing:
            return
        with self.connection() as conn, conn.transaction():
            self.fence(conn, connector)

    # -- balancing ------------------------------------------------------------------------

    def balance(self, connectors: Sequence[str]) -> list[str]:
        """Heartbeat, renew, give back beyond the fair share, take up to it; the held list."""
        wanted = sorted(set(connectors))
        with self.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO leases (connector) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (wanted,),
            )
            conn.execute(
                "INSERT INTO workers VALUES (%s, clock_timestamp(), clock_timestamp(), "
                f"clock_timestamp() + {_TTL}) ON CONFLICT (worker_id) DO UPDATE SET "
                "seen_at = excluded.seen_at, expires_at = excluded.expires_at",
                (self.worker_id, self.lease_ttl),
            )
            live = conn.execute(
                "SELECT COUNT(*) FROM workers WHERE expires_at > clock_timestamp()"
            ).fetchone()
            share = math.ceil(len(wanted) / max(int(live[0]) if live else 1, 1))
            held = self._renew(conn, wanted)
            if len(held) > share:
                extra = sorted(held)[share:]
                conn.execute(
                    "UPDATE leases SET holder = NULL, expires_at = '-infinity' "
                    "WHERE connector = ANY(%s) AND holder = %s",
                    (extra, self.worker_id),
                )
                for name in extra:
                    del held[name]
            elif len(held) < share:
                held.update(self._take(conn, wanted, share - len(held)))
            conn.execute(
                "DELETE FROM workers WHERE expires_at < clock_timestamp() - interval '1 day'"
            )
        self.tokens = held
        now = time.monotonic()
        self.renewed_at = {name: now for name in held}
        return sorted(held)

    def _renew(self, conn: psycopg.Connection[Row], wanted: list[str]) -> dict[str, int]:
        """Extend the unexpired leases held with the tokens this worker knows."""
        rows = conn.execute(
            f"UPDATE leases SET expires_at = clock_timestamp() + {_TTL} "
            "WHERE connector = ANY(%s) AND holder = %s AND expires_at > clock_timestamp() "
            "RETURNING connector, token",
            (self.lease_ttl, wanted, self.worker_id),
        ).fetchall()
        return {str(c): int(t) for c, t in rows if self.tokens.get(str(c)) == int(t)}

    def _take(self, conn: psycopg.Connection[Row], wanted: list[str], n: int) -> dict[str, int]:
        """Take up to n free or expired leases, each with a new token."""
        rows = conn.execute(
            f"UPDATE leases SET holder = %s, token = token + 1, acquired_at = clock_timestamp(), "
            f"expires_at = clock_timestamp() + {_TTL} WHERE connector IN ("
            "  SELECT connector FROM leases WHERE connector = ANY(%s) "
            "  AND (holder IS NULL OR expires_at <= clock_timestamp() "
            "       OR (holder = %s AND NOT (connector = ANY(%s)))) "
            "  ORDER BY connector LIMIT %s FOR UPDATE SKIP LOCKED"
            ") RETURNING connector, token",
            (self.worker_id, self.lease_ttl, wanted, self.worker_id, list(self.tokens), n),
        ).fetchall()
        return {str(c): int(t) for c, t in rows}

    def release_all(self) -> None:
        """Give back every lease this worker holds (a clean stop), and leave the worker list."""
        with self.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE leases SET holder = NULL, expires_at = '-infinity' WHERE holder = %s",
                (self.worker_id,),
            )
            conn.execute("DELETE FROM workers WHERE worker_id = %s", (self.worker_id,))
        self.tokens = {}

    # -- looking ----------------------------------------------------------------------------

    def lease_status(self) -> list[dict[str, Any]]:
        """Every connector's lease: holder, token, expiry and whether it is live now."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT connector, holder, token, "
                "CASE WHEN isfinite(expires_at) THEN expires_at END, "
                "expires_at > clock_timestamp() FROM leases ORDER BY connector"
            ).fetchall()
        return [
            {
                "connector": r[0],
                "holder": r[1] if r[4] else None,
                "last_holder": r[1],
                "token": int(r[2]),
                "expires_at": r[3].isoformat() if r[3] is not None else None,
                "live": bool(r[4]),
            }
            for r in rows
        ]

    def live_workers(self) -> list[str]:
        """Workers whose heartbeat has not expired."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT worker_id FROM workers WHERE expires_at > clock_timestamp() "
                "ORDER BY worker_id"
            ).fetchall()
        return [str(r[0]) for r in rows]
