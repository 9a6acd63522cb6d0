"""Pure checks of a webhook delivery: who sent it, when, and which ticket it names.

Zendesk signs each delivery: `X-Zendesk-Webhook-Signature` is
base64(HMAC-SHA256(signing secret, `X-Zendesk-Webhook-Signature-Timestamp` + raw body)), see
https://developer.zendesk.com/documentation/webhooks/verifying/ . Freshdesk and Request Tracker
have no signature of their own: their automation sends our shared secret in `X-Esc-Sync-Secret`.
Every comparison of a secret or a signature is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
INVOCATION = "x-zendesk-webhook-invocation-id"
SHARED_SECRET = "x-esc-sync-secret"

REPLAY_WINDOW = timedelta(minutes=5)
MAX_BODY = 64 * 1024
# Zendesk ids are 64-bit; anything larger (or not positive) names no ticket
MAX_TICKET_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of authenticating one delivery: ok, or why not (never echoing a secret)."""

    ok: bool
    reason: str = ""


ACCEPTED = Verdict(True)


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for this timestamp and raw body."""
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_timestamp(text: str) -> datetime | None:
    """A signature timestamp (ISO 8601 as Zendesk sends it, or Unix seconds); None if neither."""
    text = text.strip()
    if not text or len(text) > 40:
        return None
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    if value.tzinfo is None:
        return None
    return value.astimezone(UTC)


def verify_zendesk(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> Verdict:
    """A Zendesk delivery: signed with `secret`, its timestamp within 5 minutes of `now`."""
    if not secret:
        return Verdict(False, "no webhook secret is configured for this connector")
    signature = headers.get(SIGNATURE, "")
    stamp = headers.get(TIMESTAMP, "")
    if not signature or not stamp:
        return Verdict(False, "signature or timestamp header missing")
    expected = zendesk_signature(secret, stamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8")):
        return Verdict(False, "signature does not match")
    when = parse_timestamp(stamp)
    if when is None:
        return Verdict(False, "timestamp is not readable")
    if abs(now - when) > REPLAY_WINDOW:
        return Verdict(False, "timestamp is outside the 5-minute window (replay?)")
    return ACCEPTED


def verify_shared_secret(secret: str, headers: Mapping[str, str]) -> Verdict:
    """A Freshdesk or RT delivery: `X-Esc-Sync-Secret` equals the configured secret."""
    if not secret:
        return Verdict(False, "no webhook secret is configured for this connector")
    sent = headers.get(SHARED_SECRET, "")
    if not sent:
        return Verdict(False, "secret header missing")
    if not hmac.compare_digest(secret.encode("utf-8"), sent.encode("utf-8")):
        return Verdict(False, "secret does not match")
    return ACCEPTED


def verify(
    kind: str, secret: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> Verdict:
    """Authenticate a delivery for a connector of type `kind` (headers keyed lower-case)."""
    if kind == "zendesk":
        return verify_zendesk(secret, headers, body, now)
    return verify_shared_secret(secret, headers)


def _as_id(value: Any) -> int | None:
    """A ticket id from a JSON number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        number = int(value.strip())
    else:
        return None
    return number if 0 < number <= MAX_TICKET_ID else None


def ticket_id_of(body: bytes) -> int | None:
    """The ticket a body names: `{"ticket_id": N}`, Freshdesk's
    `{"freshdesk_webhook": {"ticket_id": N}}`, or a Zendesk ticket event
    `{"type": "zen:event-type:ticket…", "detail": {"id": "N"}}`; None for anything else."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    if "ticket_id" in doc:
        return _as_id(doc["ticket_id"])
    inner = doc.get("freshdesk_webhook")
    if isinstance(inner, dict):
        return _as_id(inner.get("ticket_id"))
    kind, detail = doc.get("type"), doc.get("detail")
    if (
        isinstance(kind, str)
        and kind.startswith("zen:event-type:ticket")
        and isinstance(detail, dict)
    ):
        return _as_id(detail.get("id"))
    return None


class InvocationLog:
    """Invocation ids seen lately (per connector), to answer a redelivery without a second poke.

    An id is kept for twice the replay window: a delivery older than the window is refused
    anyway, so older ids need no memory. At most `limit` ids are kept (oldest dropped first).
    """

    def __init__(self, keep: timedelta = 2 * REPLAY_WINDOW, limit: int = 100_000) -> None:
        self.keep = keep
        self.limit = limit
        self._seen: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def seen(self, connector: str, invocation: str, now: datetime) -> bool:
        """Whether this invocation was already accepted."""
        self._prune(now)
        return (connector, invocation) in self._seen

    def add(self, connector: str, invocation: str, now: datetime) -> None:
        """Remember an accepted invocation."""
        self._seen[(connector, invocation)] = now
        self._seen.move_to_end((connector, invocation))
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def _prune(self, now: datetime) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= self.keep:
                return
            del self._seen[key]
