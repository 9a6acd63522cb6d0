"""Real receivers on loopback for notification tests: an HTTP endpoint for Apprise's `json://`
posts and an SMTP server (aiosmtpd) for `mailto://`, each recording what it got, with faults."""

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
        self.attempts = 0
        self.fail: list[int] = []  # statuses to answer with, one per attempt, before succeeding
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
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
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "hook", **params: str) -> str:
        """The Apprise URL of this receiver (`json://`), with query parameters."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def titles(self) -> list[str]:
        return [str(m.get("title")) for m in self.received]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.attempts = 0

    def __enter__(self) -> JsonReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
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
        return self.box.messages

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def url(self, to: str = "leads@example.test") -> str:
        """An Apprise `mailto://` URL that delivers here, without TLS or login."""
        return (
            f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&mode=insecure"
            f"&from=esc-sync@example.test&to={to}&user=&pass="
        )

    def __enter__(self) -> MailCatcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
