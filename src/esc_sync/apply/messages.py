"""Messages to channels, through the ledger: intent, send, record -- after the helpdesk writes.

The applier announces each message's intent with the ticket's other writes, and sends once
those writes landed, so a failing channel never holds a helpdesk write back. Just before
sending, the intent is marked `sending`: a crash between sending and recording leaves it so,
and recovery sends it again (at most one repeat) and the audit line says it may be one. A
channel that fails after its retries is dead-lettered and recorded as failed (not sent again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from esc_sync.apply.recorder import Recorder
from esc_sync.apply.results import CycleReport
from esc_sync.model import Notification
from esc_sync.notify import Notifier, dedup_key
from esc_sync.plan.writes import iso
from esc_sync.state.protocol import Ledger

log = structlog.get_logger("esc_sync.notify")


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
        store.record_intent(
            connector, ticket_id, episode, n.key, {**n.detail(), "sending": True}, self.clock()
        )
        delivery = self.notifier.send(
            n.url_env, n.title, n.body, dedup_key(connector, ticket_id, episode, n.key)
        )
        self.crash_point("after-send")
        now = self.clock()
        outcome = "sent" if delivery.ok else "failed"
        extra: dict[str, Any] = {"outcome": outcome, "attempts": delivery.attempts}
        if delivery.error:
            extra["error"] = delivery.error
        if maybe_sent:
            extra["possible_repeat"] = True
        store.record_done(connector, ticket_id, episode, n.key, now, extra)
        if report is not None:
            report.notifications[(n.channel, n.event, outcome)] += 1
        record = {
            "at": iso(now),
            "connector": connector,
            "ticket": ticket_id,
            "episode": episode,
            "notification": {"key": n.key, "channel": n.channel, "event": n.event},
            "outcome": f"notification-{outcome}",
            "attempts": delivery.attempts,
        }
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
                attempts=delivery.attempts,
                reason=delivery.error,
            )
        self.recorder.audit.write(record)
        return f"NOTIFY {n.channel} {n.event}" + ("" if delivery.ok else " (failed)")


def withheld(notes: list[Notification]) -> list[str]:
    """The messages a dry run lists and does not send."""
    return [f"NOTIFY {n.channel} {n.event}" for n in notes]
