"""Send one message through Apprise, with retries and backoff, never showing its address.

The address is an Apprise URL read from the environment at send time; it may hold a token or
a password, so it appears in no log line, error or return value. Apprise logs URLs at some
levels: its logger is kept to itself (no propagation to ours), and the warnings it gives on a
failure are scrubbed of every part of the URL before they become the failure's reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise

# Attempts per message, and the pause before the second (doubling after each).
ATTEMPTS = 3
FIRST_PAUSE = 2.0
MAX_REASON = 300


class _Capture(logging.Handler):
    """Collects Apprise's warnings while one message is sent (under the sender's lock)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a broken log record must not break a send
            self.lines.append(record.levelname)


_CAPTURE = _Capture()
_LOCK = threading.Lock()


def isolate_apprise_log() -> None:
    """Keep Apprise's logger away from ours: its records stop at our capture."""
    logger = logging.getLogger("apprise")
    logger.handlers = [_CAPTURE]
    logger.propagate = False
    logger.setLevel(logging.WARNING)


isolate_apprise_log()


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending one message went."""

    ok: bool
    attempts: int
    error: str | None = None


def dedup_key(connector: str, ticket_id: int, episode: int, key: str) -> str:
    """A stable de-duplication key (PagerDuty's `dedup_key`) from the message's ledger key."""
    text = f"esc-sync:{connector}:{ticket_id}:ep{episode}:{key}"
    if len(text) <= 255:
        return text
    return "esc-sync:" + hashlib.sha256(text.encode()).hexdigest()


def unset_channels(channels: Mapping[str, str], env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(channel, variable) for every channel whose variable is unset or empty."""
    return [(name, var) for name, var in channels.items() if not env.get(var, "").strip()]


def scrub(text: str, url: str) -> str:
    """`text` with the URL and each of its parts (user, password, host, path, query values)
    replaced by `***`."""
    secrets = {url, url.split("?")[0]}
    try:
        parts = urlsplit(url)
        secrets |= {parts.netloc, parts.username or "", parts.password or "", parts.hostname or ""}
        secrets |= {unquote(p) for p in parts.path.split("/")} | set(parts.path.split("/"))
        secrets |= {v for _, v in parse_qsl(parts.query)} | set(parts.query.split("&"))
    except ValueError:
        pass
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:MAX_REASON]


def with_dedup(url: str, dedup: str | None) -> str:
    """PagerDuty URLs carry the de-duplication key, so a repeated message is one incident."""
    if dedup is None or not url.lower().startswith("pagerduty"):
        return url
    return f"{url}{'&' if '?' in url else '?'}dedup={quote(dedup, safe='')}"


class Notifier:
    """Sends messages to channel addresses held in environment variables."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = ATTEMPTS,
        first_pause: float = FIRST_PAUSE,
    ) -> None:
        self.env = env if env is not None else os.environ
        self.sleep = sleep
        self.attempts = attempts
        self.first_pause = first_pause

    def send(self, url_env: str, title: str, body: str, dedup: str | None = None) -> Delivery:
        """Send one message, retrying with backoff; the reason of a failure names no URL."""
        url = self.env.get(url_env, "").strip()
        if not url:
            return Delivery(False, 0, f"environment variable {url_env} is not set")
        url = with_dedup(url, dedup)
        reason = "the channel did not accept the message"
        for attempt in range(1, self.attempts + 1):
            ok, why = self._once(url, title, body)
            if ok:
                return Delivery(True, attempt)
            reason = why or reason
            if why == "not a valid Apprise URL":
                return Delivery(False, attempt, f"{url_env}: {why}")
            if attempt < self.attempts:
                self.sleep(self.first_pause * 2 ** (attempt - 1))
        return Delivery(False, self.attempts, reason)

    def _once(self, url: str, title: str, body: str) -> tuple[bool, str | None]:
        """One attempt: (sent, scrubbed reason)."""
        with _LOCK:
            isolate_apprise_log()  # again: logging set up since (dictConfig, tests) may undo it
            _CAPTURE.lines = []
            try:
                sender = apprise.Apprise()
                if not sender.add(url):
                    return False, "not a valid Apprise URL"
                # plain text in: each service gets line breaks in its own format
                ok = bool(sender.notify(title=title, body=body, body_format="text"))
            except Exception as exc:  # Apprise's plugins raise what they like; keep going
                ok, _CAPTURE.lines = False, [*_CAPTURE.lines, type(exc).__name__]
            lines = list(_CAPTURE.lines)
        return ok, (scrub("; ".join(_tail(lines)), url) if lines else None)


def _tail(lines: Iterable[str]) -> list[str]:
    """The last two distinct lines (the most specific reason Apprise gave)."""
    return list(dict.fromkeys(lines))[-2:]
