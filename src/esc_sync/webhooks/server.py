"""uvicorn serving the webhook app in a thread beside the worker loop.

The socket is bound in the caller's thread, so a busy port fails at start with a clear error,
and port 0 gives a free port that is known before the first request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from esc_sync.webhooks.app import Health, WebhookEndpoint, build_app, targets_of
from esc_sync.webhooks.queue import PokeQueue, Pokes

log = structlog.get_logger("esc_sync.webhooks")


class WebhookServer:
    """One uvicorn server on a background thread; `start()`, `stop()`, or use as a context."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 8081) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(128)
        self.sock.setblocking(False)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="esc-sync-webhooks", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        """The base URL (http; TLS belongs to the proxy in front)."""
        host = self.sock.getsockname()[0]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def _serve(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> WebhookServer:
        """Serve in the background; return once uvicorn accepts requests."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook listener did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Finish the requests in flight and stop."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_webhooks(
    host: str,
    port: int,
    profiles: Iterable[Any],
    clock: Callable[[], datetime],
    *,
    queue_size: int = 10_000,
    metrics: Callable[[], bytes] | None = None,
    health: Health | None = None,
    on_answer: Callable[[str, int], None] | None = None,
    pokes: Pokes | None = None,
) -> tuple[Pokes, WebhookServer]:
    """Start the listener for these connector profiles; the queue is for the worker loop."""
    profiles = list(profiles)
    for profile in profiles:
        if not profile.webhook_secret.get_secret_value():
            log.warning(
                "webhooks refused for this connector: no secret configured",
                connector=profile.name,
                webhook_secret_env=profile.webhook_secret_env,
            )
    if pokes is None:  # one worker: an in-process queue; several: the caller's shared one
        pokes = PokeQueue(queue_size)
    endpoint = WebhookEndpoint(targets_of(profiles), pokes, clock, on_answer=on_answer)
    server = WebhookServer(build_app(endpoint, metrics=metrics, health=health), host, port)
    server.start()
    log.info("webhooks listening", url=server.url)
    return pokes, server
