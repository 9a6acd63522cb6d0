"""The Starlette application: `POST /webhooks/<connector>`, and optionally /metrics, /healthz.

Checks run cheapest first and nothing is read from the helpdesk or written anywhere before a
delivery is authenticated: method (405), connector (404), size (413), secret or signature (401),
ticket id (400), redelivery (202, nothing queued), queue room (429), else 202 and a poke.
Secrets and signatures never reach a log line or an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from esc_sync.webhooks.queue import Pokes
from esc_sync.webhooks.verify import INVOCATION, MAX_BODY, InvocationLog, ticket_id_of, verify

log = structlog.get_logger("esc_sync.webhooks")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Health = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class HookTarget:
    """A connector that may be poked: its helpdesk type (how it signs) and its secret."""

    kind: str
    secret: SecretStr


class _TooLarge(Exception):
    """The body passed `MAX_BODY` while it was read."""


def targets_of(profiles: Iterable[Any]) -> dict[str, HookTarget]:
    """Hook targets from connector profiles (`name`, `type`, `webhook_secret`)."""
    return {p.name: HookTarget(p.type, p.webhook_secret) for p in profiles}


def _answer(status: int, outcome: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": outcome, **extra}, status_code=status)


class WebhookEndpoint:
    """Answers deliveries for a fixed set of connectors; pokes go to `pokes`."""

    def __init__(
        self,
        targets: Mapping[str, HookTarget],
        pokes: Pokes,
        clock: Callable[[], datetime],
        on_answer: Callable[[str, int], None] | None = None,
    ) -> None:
        self.targets = dict(targets)
        self.pokes = pokes
        self.clock = clock
        self.invocations = InvocationLog()
        self.on_answer = on_answer

    async def handle(self, request: Request) -> Response:
        """One delivery."""
        name = str(request.path_params.get("connector", ""))
        response = await self._answer(request, name)
        if self.on_answer is not None:
            self.on_answer(name if name in self.targets else "", response.status_code)
        return response

    async def _answer(self, request: Request, name: str) -> Response:
        if request.method != "POST":
            return _answer(405, "method not allowed", allow="POST")
        target = self.targets.get(name)
        if target is None:
            return _answer(404, "unknown connector")
        try:
            body = await _read_body(request)
        except _TooLarge:
            log.warning("webhook refused", connector=name, status=413, reason="body over 64 KB")
            return _answer(413, "body too large", limit=MAX_BODY)
        except ValueError:
            return _answer(400, "unreadable Content-Length")
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = self.clock()
        verdict = verify(target.kind, target.secret.get_secret_value(), headers, body, now)
        if not verdict.ok:
            log.warning("webhook refused", connector=name, status=401, reason=verdict.reason)
            return _answer(401, "unauthenticated")
        ticket_id = ticket_id_of(body)
        if ticket_id is None:
            log.warning("webhook refused", connector=name, status=400, reason="no ticket id")
            return _answer(400, "no ticket id in the body")
        invocation = headers.get(INVOCATION, "").strip()[:200]
        if invocation and self.invocations.seen(name, invocation, now):
            log.info("webhook duplicate", connector=name, ticket=ticket_id)
            return _answer(202, "duplicate", ticket_id=ticket_id)
        result = self.pokes.put(name, ticket_id)
        if result == "full":
            log.warning("webhook refused", connector=name, ticket=ticket_id, status=429)
            return JSONResponse(
                {"status": "queue full"}, status_code=429, headers={"Retry-After": "5"}
            )
        if invocation:
            self.invocations.add(name, invocation, now)
        log.debug("webhook accepted", connector=name, ticket=ticket_id, queue=result)
        return _answer(202, result, ticket_id=ticket_id)


async def _read_body(request: Request) -> bytes:
    """The raw body, refusing (before or while reading) anything over `MAX_BODY`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ValueError(declared)
        if int(declared) > MAX_BODY:
            raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    endpoint: WebhookEndpoint,
    *,
    metrics: Callable[[], bytes] | None = None,
    health: Health | None = None,
) -> Starlette:
    """The ASGI app: the webhook route, and /metrics and /healthz when given."""
    routes = [Route("/webhooks/{connector}", endpoint.handle, methods=METHODS)]
    if metrics is not None:
        scrape = metrics

        async def metrics_page(request: Request) -> Response:
            """The Prometheus text format."""
            return Response(scrape(), media_type="text/plain; version=0.0.4; charset=utf-8")

        routes.append(Route("/metrics", metrics_page, methods=["GET"]))

    async def healthz(request: Request) -> Response:
        """200 while the worker keeps up (503 when not); just 200 without a health source."""
        if health is None:
            return JSONResponse({"status": "ok"})
        ok, detail = health()
        return JSONResponse(detail, status_code=200 if ok else 503)

    routes.append(Route("/healthz", healthz, methods=["GET"]))
    return Starlette(routes=routes)
