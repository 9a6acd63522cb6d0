"""The sandbox sends webhooks as the vendors do when a person changes a ticket.

Zendesk dialect: an event-subscription body `{"type": "zen:event-type:ticket.…", "detail":
{"id": "N"}}`, signed (`X-Zendesk-Webhook-Signature` over the timestamp and the raw body) and
carrying an invocation id that stays the same on every retry. Freshdesk dialect: the automation
rule's `{"freshdesk_webhook": {"ticket_id": N}}` with the shared secret in `X-Esc-Sync-Secret`.
A delivery that fails (no answer, 429, 5xx) is retried with growing pauses, like the vendors.

Only changes through the admin hooks (customers and human agents) are sent; the worker's own API
writes are not, as a trigger conditioned on "updated by someone other than the bot" would do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from esc_sync.sandbox.store import Clock

RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)  # seconds before the 2nd, 3rd, ... attempt
EVENTS = {"created": "ticket.created", "comment": "ticket.comment_added", "edit": "ticket.updated"}


@dataclass(slots=True)
class _Delivery:
    ticket_id: int
    event: str
    invocation: str
    due: float
    attempts: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


class WebhookSender:
    """Sends one webhook per ticket change to the configured URL, on a thread of its own."""

    def __init__(self, clock: Clock, dialect: str) -> None:
        self.clock = clock
        self.dialect = dialect
        self.url: str | None = None
        self.secret = ""
        self.sent: list[dict[str, Any]] = []  # every attempt, oldest first
        self._due: list[_Delivery] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def configure(self, url: str | None, secret: str = "") -> None:
        """Send to `url` from now on (None: stop sending; what waits is dropped)."""
        with self._cond:
            self.url, self.secret = url, secret
            if url is None:
                self._due.clear()
            elif self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="esc-sync-sandbox-webhooks", daemon=True
                )
                self._thread.start()

    def changed(self, ticket_id: int, event: str) -> None:
        """A person changed a ticket: queue its webhook (when one is configured)."""
        with self._cond:
            if self.url is None:
                return
            invocation = str(uuid.uuid4())
            self._due.append(_Delivery(ticket_id, EVENTS[event], invocation, time.monotonic()))
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop the sending thread (deliveries still waiting are dropped)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt so far: ticket, event, invocation, attempt, status (0: no answer)."""
        with self._cond:
            return list(self.sent)

    def _next(self) -> _Delivery | None:
        """The earliest due delivery, waiting for it; None once stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                ready = [d for d in self._due if d.due <= now]
                if ready:
                    delivery = min(ready, key=lambda d: d.due)
                    self._due.remove(delivery)
                    return delivery
                pause = min((d.due for d in self._due), default=now + 1.0) - now
                self._cond.wait(max(pause, 0.001))
            return None

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            status = self._send(delivery)
            delivery.attempts += 1
            with self._cond:
                self.sent.append(
                    {
                        "ticket_id": delivery.ticket_id,
                        "event": delivery.event,
                        "invocation": delivery.invocation,
                        "attempt": delivery.attempts,
                        "status": status,
                    }
                )
                failed = status == 0 or status == 429 or status >= 500
                if failed and delivery.attempts <= len(RETRY_PAUSES) and self.url is not None:
                    delivery.due = time.monotonic() + RETRY_PAUSES[delivery.attempts - 1]
                    self._due.append(delivery)

    def _send(self, delivery: _Delivery) -> int:
        """One attempt; the HTTP status, or 0 when nothing answered."""
        url = self.url
        if url is None:
            return 0
        body, headers = self._signed(delivery)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0

    def _signed(self, delivery: _Delivery) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt, as the dialect's vendor sends them."""
        headers = {"Content-Type": "application/json", "User-Agent": "esc-sync-sandbox"}
        if self.dialect == "freshdesk":
            doc: dict[str, Any] = {"freshdesk_webhook": {"ticket_id": delivery.ticket_id}}
            headers["X-Esc-Sync-Secret"] = self.secret
            return json.dumps(doc).encode(), headers
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        doc = {
            "type": f"zen:event-type:{delivery.event}",
            "detail": {"id": str(delivery.ticket_id)},
            "id": delivery.invocation,
            "time": stamp,
        }
        body = json.dumps(doc).encode()
        mac = hmac.new(self.secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(mac).decode()
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = stamp
        headers["X-Zendesk-Webhook-Invocation-Id"] = delivery.invocation
        headers["X-Zendesk-Webhook-Id"] = "01SANDBOXWEBHOOK"
        return body, headers
