"""Messages to channels, through the ledger: intent, send, record -- after the helpdesk writes.

The applier announces each message's intent with the ticket's other writes, and sends once
those writes landed, so a failing channel never holds a helpdesk write back. Just before
sending, the intent is marked `sending`: a crash between sending and recording leaves it so,
and recovery sends it again (at most one repeat) and the audit line says it may be one.

A failed send is not retried in the cycle (a dead channel must not hold the other tickets up):
its intent stays open with `attempts` and `retry_after` (30 s, 1 min, 2 min), recovery sends it
again once that time has come without reading the ticket or holding it back, and after
`MESSAGE_ATTEMPTS` attempts it is dead-lettered and recorded as failed (not sent again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from esc_sync.apply.recorder import Recorder
from esc_sync.apply.results import CycleReport
from esc_sync.model import Notification
from esc_sync.notify import Notifier, dedup_key
from esc_sync.plan.writes import iso
from esc_sync.state.protocol import Ledger

log = structlog.get_logger("esc_sync.notify")

MESSAGE_ATTEMPTS = 4  # sends of one message before it is dead-lettered
RETRY_FIRST = timedelta(seconds=30)


class Messages:
    """Sends a plan's messages and records each one."""

    def __init__(
        self,
        store: Ledger,
        recorder: Recorder,
        notifier: Notifier,
        clock: Callable[[], datetime],
        crash_point: Callable[[str], None],
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.notifier = notifier
        self.clock = clock
        self.crash_point = crash_point

    def announce(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        notes: list[Notification],
        after: dict[str, Any],
        now: datetime,
    ) -> None:
        """Record each message's intent (tied to the update's marker when there is one)."""
        for n in notes:
            detail = {**n.detail(), **after}
            self.store.record_intent(connector, ticket_id, episode, n.key, detail, now)

    def send_all(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        notes: list[Notification],
        report: CycleReport | None,
    ) -> list[str]:
        """Send every message of a plan whose writes landed; what was done, for the record."""
        return [self.send(connector, ticket_id, episode, n, report) for n in notes]

    def send(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        n: Notification,
        report: CycleReport | None,
        *,
        maybe_sent: bool = False,
    ) -> str:
        """Mark the intent `sending`, send, record the outcome (a failure: dead letter)."""
        store = self.store
        before = store.ledger(connector, ticket_id, episode).get(n.key)
        tried = int(before.detail.get("attempts", 0)) if before is not None else 0
        store.record_intent(
            connector,
            ticket_id,
            episode,
            n.key,
            {**n.detail(), "sending": True, "attempts": tried},
            self.clock(),
        )
        delivery = self.notifier.send(
            n.url_env, n.title, n.body, dedup_key(connector, ticket_id, episode, n.key)
        )
        self.crash_point("after-send")
        now = self.clock()
        attempts = tried + delivery.attempts
        if not delivery.ok and attempts < MESSAGE_ATTEMPTS:
            return self._later(connector, ticket_id, episode, n, report, attempts, delivery.error)
        outcome = "sent" if delivery.ok else "failed"
        extra: dict[str, Any] = {"outcome": outcome, "attempts": attempts}
        if delivery.error:
            extra["error"] = delivery.error
        if maybe_sent:
            extra["possible_repeat"] = True
        store.record_done(connector, ticket_id, episode, n.key, now, extra)
        if report is not None:
            report.notifications[(n.channel, n.event, outcome)] += 1
        record = self._record(connector, ticket_id, episode, n, f"notification-{outcome}", now)
        record["attempts"] = attempts
        if maybe_sent:
            # the process died after an earlier attempt may have sent it: this may be a repeat
            record["possible_repeat"] = True
        if not delivery.ok:
            reason = f"notification {n.key} to channel {n.channel} failed: {delivery.error}"
            record["error"] = reason
            self.recorder.dead_letters.dead_letter(
                connector, ticket_id, reason, {"key": n.key, "channel": n.channel}, now
            )
            log.warning(
                "notification failed; dead-lettered",
                connector=connector,
                ticket=ticket_id,
                channel=n.channel,
                notify_event=n.event,
                attempts=attempts,
                reason=delivery.error,
            )
        self.recorder.audit.write(record)
        return f"NOTIFY {n.channel} {n.event}" + ("" if delivery.ok else " (failed)")

    def _later(
        self,
        connector: str,
        ticket_id: int,
        episode: int,
        n: Notification,
        report: CycleReport | None,
        attempts: int,
        error: str | None,
    ) -> str:
        """Keep a failed message's intent for a later attempt, after a growing pause."""
        now = self.clock()
        after = now + RETRY_FIRST * 2 ** (attempts - 1)
        detail = {
            **n.detail(),
            "attempts": attempts,
            "retry_after": after.isoformat(),
            "error": (error or "")[:300],
        }
        self.store.record_intent(connector, ticket_id, episode, n.key, detail, now)
        if report is not None:
            report.notifications[(n.channel, n.event, "retrying")] += 1
        record = self._record(connector, ticket_id, episode, n, "notification-retrying", now)
        record.update(attempts=attempts, retry_after=iso(after), error=error)
        self.recorder.audit.write(record)
        log.info(
            "notification failed; tried again later",
            connector=connector,
            ticket=ticket_id,
            channel=n.channel,
            attempts=attempts,
            retry_after=iso(after),
        )
        return f"NOTIFY {n.channel} {n.event} (retry at {iso(after)})"

    @staticmethod
    def _record(
        connector: str,
        ticket_id: int,
        episode: int,
        n: Notification,
        outcome: str,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "at": iso(now),
            "connector": connector,
            "ticket": ticket_id,
            "episode": episode,
            "notification": {"key": n.key, "channel": n.channel, "event": n.event},
            "outcome": outcome,
        }


def withheld(notes: list[Notification]) -> list[str]:
    """The messages a dry run lists and does not send."""
    return [f"NOTIFY {n.channel} {n.event}" for n in notes]
