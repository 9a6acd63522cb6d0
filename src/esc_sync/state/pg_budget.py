"""Each helpdesk account's API budget, shared by every worker (`connectors.budget.AccountBudgets`).

    api_budgets: account │ remaining │ quota_limit │ seen_at │ spent │ resume_at

A response's rate-limit headers set `remaining` (and reset `spent`); every request of any
worker adds one to `spent`; a 429 moves `resume_at`. A reading older than the helpdesk's
one-minute window is stale and not used. These rows belong to the account, not to a connector,
so they are not fenced, and they are written through the pool even during a dry run (its reads
spend the real budget too).
"""

from __future__ import annotations

from esc_sync.state.pg_base import PgBase

_SPEND = """
INSERT INTO api_budgets (account, spent) VALUES (%s, 1)
ON CONFLICT (account) DO UPDATE SET spent = api_budgets.spent + 1
RETURNING
    CASE WHEN seen_at > clock_timestamp() - interval '60 seconds' THEN remaining - spent END,
    quota_limit,
    CASE WHEN resume_at > clock_timestamp()
         THEN EXTRACT(EPOCH FROM resume_at - clock_timestamp()) ELSE 0 END
"""


class PgBudgets(PgBase):
    """The shared account budgets of the PostgreSQL store."""

    def spend(self, account: str) -> tuple[int | None, int | None, float]:
        """Count one request; (remaining after it, limit, seconds until a 429 pause ends)."""
        with self.pooled() as conn:
            row = conn.execute(_SPEND, (account,)).fetchone()
        if row is None:
            return None, None, 0.0
        remaining = int(row[0]) if row[0] is not None else None
        limit = int(row[1]) if row[1] is not None else None
        return remaining, limit, float(row[2])

    def report(self, account: str, remaining: int, limit: int) -> None:
        """The quota a response advertised; requests spent since are counted from zero."""
        with self.pooled() as conn:
            conn.execute(
                "INSERT INTO api_budgets (account, remaining, quota_limit, seen_at, spent) "
                "VALUES (%s, %s, %s, clock_timestamp(), 0) ON CONFLICT (account) DO UPDATE SET "
                "remaining = excluded.remaining, quota_limit = excluded.quota_limit, "
                "seen_at = excluded.seen_at, spent = 0",
                (account, remaining, limit),
            )

    def hold(self, account: str, seconds: float) -> None:
        """A 429: the account's workers wait until now + `seconds` (the later pause wins)."""
        with self.pooled() as conn:
            conn.execute(
                "INSERT INTO api_budgets (account, resume_at) "
                "VALUES (%s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (account) DO UPDATE SET "
                "resume_at = GREATEST(api_budgets.resume_at, excluded.resume_at)",
                (account, seconds),
            )
