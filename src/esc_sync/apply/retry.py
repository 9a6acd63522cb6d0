"""Deferring a ticket whose write failed for now: its work waits in the ledger for the next
cycle's recovery, with a growing pause, and the cycle goes on with the other tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

from esc_sync.state.protocol import Ledger

# A ticket whose write failed transiently is tried again after 30 s, 1 min, 2 min, ... 1 h.
RETRY_FIRST = timedelta(seconds=30)
RETRY_LONGEST = timedelta(hours=1)
RETRY_KEY = "retry"  # the ledger entry of a ticket deferred before any intent was recorded


def hold_for_retry(
    store: Ledger, connector: str, ticket_id: int, episode: int, reason: str, now: datetime
) -> datetime:
    """Keep a ticket's open intents (or a `retry` entry when it had none) for the next cycle's
    recovery, with a growing pause; returns when it is tried again."""
    ledger = store.ledger(connector, ticket_id, episode)
    entries = [e for e in ledger.values() if e.state == "intent"]
    attempts = max((int(e.detail.get("attempts", 0)) for e in entries), default=0) + 1
    pause: timedelta = min(RETRY_FIRST * 2 ** min(attempts - 1, 16), RETRY_LONGEST)
    after: datetime = now + pause
    extra = {"attempts": attempts, "retry_after": after.isoformat(), "error": reason[:300]}
    if not entries:
        store.record_intent(connector, ticket_id, episode, RETRY_KEY, extra, now)
    for e in entries:
        store.record_intent(connector, ticket_id, episode, e.key, {**e.detail, **extra}, now)
    return after
