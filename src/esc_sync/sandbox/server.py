"""The sandbox over real HTTP: a threading stdlib server on loopback, and the `Sandbox` handle."""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from esc_sync.sandbox.admin import Admin
from esc_sync.sandbox.faults import FaultBook
from esc_sync.sandbox.freshdesk_api import FreshdeskGateway
from esc_sync.sandbox.gateway import Gateway
from esc_sync.sandbox.seed import CUSTOM_FIELD_IDS, Density, build
from esc_sync.sandbox.store import Clock, Store
from esc_sync.sandbox.webhooks import WebhookSender
from esc_sync.sandbox.wire import Reply, Request

DIALECTS = {"zendesk": "Zendesk", "freshdesk": "Freshdesk"}


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its sandbox and never waits for request threads."""

    daemon_threads = True
    block_on_close = False
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (killed, timed out) is normal here; anything else is shown."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the admin hooks or the API gateway, writes the reply."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "esc-sync-sandbox/1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
    # until the client's delayed ACK (about 40 ms a request on keep-alive connections).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is kept in the store."""

    def _dispatch(self) -> None:
        """Build a Request, get the Reply, send it (or hold and drop the connection)."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        sandbox = self.server.sandbox
        if parts.path.startswith("/__sandbox"):
            reply = sandbox.admin.handle(req)
        else:
            reply = sandbox.gateway.handle(req)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        """Write the reply; a dropped reply holds the connection, then closes it unanswered."""
        if reply.drop_after is not None:
            time.sleep(reply.drop_after)
            self.close_connection = True
            return
        payload = reply.payload()
        self.send_response(reply.status)
        if payload or reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)


class Sandbox:
    """A seeded local helpdesk speaking the Zendesk or Freshdesk API subset; a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "sandbox-token",
        tickets: int = 64,
        seed: int = 7,
        now: datetime | None = None,
        recent_window: int = 60,
        incremental_limit: int = 10,
        account_limit: int = 700,
        dialect: str = "zendesk",
        job_delay: float = 0.0,
        density: Density | None = None,
    ) -> None:
        """Seed the helpdesk and bind the socket (the port is known from here on).

        Bulk jobs (Zendesk dialect) run `job_delay` seconds after they were submitted; `density`
        says how many comments and field changes a seeded ticket has (default `Density()`).
        """
        if dialect not in DIALECTS:
            raise ValueError(f"unknown sandbox dialect {dialect!r} (one of {', '.join(DIALECTS)})")
        self.dialect = dialect
        self.token = token
        self.store = Store(Clock(now))
        self.expectations = build(self.store, tickets=tickets, seed=seed, density=density)
        self.faults = FaultBook()
        self._server = _Server((host, port), _Handler)
        self._server.sandbox = self
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        gateway_type = FreshdeskGateway if dialect == "freshdesk" else Gateway
        self.gateway = gateway_type(
            self.store,
            self.faults,
            token=token,
            base=self.url,
            recent_window=recent_window,
            incremental_limit=incremental_limit,
            account_limit=account_limit,
            custom_ids=CUSTOM_FIELD_IDS,
        )
        self.jobs = self.gateway.jobs
        self.jobs.delay = job_delay
        self.webhooks = WebhookSender(self.store.clock, dialect)
        self.admin = Admin(
            self.store,
            self.faults,
            self.url,
            self.expectations,
            CUSTOM_FIELD_IDS,
            jobs=self.jobs if dialect == "zendesk" else None,
            webhooks=self.webhooks,
        )
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._server.server_address[1])

    def start(self) -> Sandbox:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns promptly
                name="esc-sync-sandbox",
                daemon=True,
            )
            self._thread.start()
        self._start_ticker()
        return self

    def _start_ticker(self) -> None:
        """Run due bulk jobs in the background, as the helpdesk would without being polled."""
        if self._ticker is None:
            self._stopping.clear()
            self._ticker = threading.Thread(
                target=self._tick, name="esc-sync-sandbox-jobs", daemon=True
            )
            self._ticker.start()

    def _tick(self) -> None:
        """Advance the job book every 50 ms until stopped."""
        while not self._stopping.wait(0.05):
            try:
                self.jobs.advance()
            except Exception:  # never let the ticker die
                logging.getLogger(__name__).exception("sandbox job ticker failed")

    def _stop_ticker(self) -> None:
        """Stop the job ticker and wait for it."""
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None

    def send_webhooks(self, url: str | None, secret: str = "") -> None:
        """Send the dialect's webhook to `url` on every change by a person (None: stop)."""
        self.webhooks.configure(url, secret)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.webhooks.stop()
        self._stop_ticker()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._start_ticker()
        try:
            self._server.serve_forever()
        finally:
            self._stop_ticker()  # joined before the interpreter exits, not left to finalization
            self._server.server_close()

    def __enter__(self) -> Sandbox:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()


def serve(
    port: int, tickets: int, token: str, dialect: str = "zendesk", now: datetime | None = None
) -> None:
    """`esc-sync sandbox`: print where the sandbox listens and serve until Ctrl-C."""
    sandbox = Sandbox(port=port, tickets=tickets, token=token, dialect=dialect, now=now)
    print(
        f"Sandbox helpdesk ({DIALECTS[dialect]} API) at {sandbox.url} with "
        f"{len(sandbox.store.tickets)} "
        f"tickets; export ESC_SYNC_SANDBOX_TOKEN={token}  (Ctrl-C to stop)",
        flush=True,
    )
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        print("Sandbox stopped.", file=sys.stderr, flush=True)
