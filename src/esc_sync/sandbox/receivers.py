"""Notification receivers on loopback, for the demo and the tests: an HTTP endpoint for
Apprise's `json://` posts and a mail catcher (aiosmtpd) for `mailto://`, each keeping what it
got; the JSON one can answer with errors or slowly (faults)."""

from __future__ import annotations

import json
import socket
import threading
import time
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class JsonReceiver:
    """Records every JSON post; `fail` answers with that status, `delay` sleeps before answering."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []  # the path each kept message was posted to
        self.attempts = 0
        self.fail: list[int] = []  # statuses to answer with, one per attempt, before succeeding
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                """Keep the posted JSON (or answer with the next scripted failure)."""
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    status = receiver.fail.pop(0) if receiver.fail else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                if status == 200:
                    with receiver._lock:
                        receiver.received.append(json.loads(body or b"{}"))
                        receiver.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what it received instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def url(self, path: str = "hook", **params: str) -> str:
        """The Apprise URL of this receiver (`json://`), with query parameters."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def titles(self) -> list[str]:
        """The titles of the messages received, in order."""
        return [str(m.get("title")) for m in self.received]

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self.received.clear()
            self.attempts = 0

    def __enter__(self) -> JsonReceiver:
        """Start serving."""
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    """aiosmtpd's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message; answer OK."""
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"


def _free_port() -> int:
    """A port free on loopback right now (aiosmtpd needs one named)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailCatcher:
    """An SMTP server on loopback that keeps every message it is sent."""

    def __init__(self) -> None:
        self.box = _Mailbox()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=_free_port())

    @property
    def messages(self) -> list[Any]:
        """The messages received (email.message.EmailMessage)."""
        return self.box.messages

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.controller.port)

    def url(self, to: str = "leads@example.test") -> str:
        """An Apprise `mailto://` URL that delivers here, without TLS or login."""
        return (
            f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&mode=insecure"
            f"&from=esc-sync@example.test&to={to}&user=&pass="
        )

    def __enter__(self) -> MailCatcher:
        """Start serving."""
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.controller.stop()
