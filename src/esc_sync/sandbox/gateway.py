"""The front door of the API: request log, injected faults, authentication and rate limits."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from typing import Any

from esc_sync.sandbox.api import Context, normalise, route
from esc_sync.sandbox.errors import (
    ACCOUNT_LIMIT,
    INCREMENTAL_LIMIT,
    UNAUTHENTICATED,
    UPDATE_LIMIT,
    ApiError,
    record_invalid,
)
from esc_sync.sandbox.events import EventIndex
from esc_sync.sandbox.faults import JOB_KINDS, Fault, FaultBook, RateLimit
from esc_sync.sandbox.jobs import JobBook
from esc_sync.sandbox.store import Store, User
from esc_sync.sandbox.wire import Reply, Request

log = logging.getLogger(__name__)

_UPDATE_PATH = re.compile(r"^/api/v2/tickets/\d+$")
_EXPORT_PATH = "/api/v2/incremental/tickets/cursor"
_EVENTS_PATH = "/api/v2/incremental/ticket_events"
SERVER_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1><p>Something went wrong on our end.</p></body></html>"
)
UNAVAILABLE_TEXT = b"Service Unavailable: the helpdesk is under maintenance, try again shortly.\n"
TRUNCATED_STUB = b'{"ticket":{"url":"https://sandbox.test/api/v2/tickets/1.json","id":1,"subj'
UPDATE_BUDGET = 100


class Gateway:
    """Turns an API request into a reply, logging it and applying faults and limits."""

    def __init__(
        self,
        store: Store,
        faults: FaultBook,
        *,
        token: str,
        base: str,
        recent_window: int,
        incremental_limit: int,
        account_limit: int,
        custom_ids: tuple[int, ...],
    ) -> None:
        """A gateway over `store` accepting `token`."""
        self.store = store
        self.faults = faults
        self.token = token
        self.base = base
        self.recent_window = recent_window
        self.custom_ids = custom_ids
        self.account = RateLimit(account_limit)
        self.incremental = RateLimit(incremental_limit)
        self.updates = RateLimit(UPDATE_BUDGET)
        self.events = EventIndex()
        self.jobs = JobBook(store, custom_ids)

    def handle(self, req: Request) -> Reply:
        """Answer one API request and append it to the request log (before answering)."""
        fault = self.faults.take(req.method, req.path)
        reply = self._answer(req, fault)
        entry: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "query": req.raw_query,
            "params": dict(req.query),
            "status": None if reply.drop_after is not None else reply.status,
            "fault": fault.kind if fault else None,
            "time": self.store.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        self.store.log(entry)
        return reply

    def _answer(self, req: Request, fault: Fault | None) -> Reply:
        """The reply, shaped by a fault when one is armed for this request."""
        if fault is None:
            return self._process(req)
        if fault.kind in JOB_KINDS:  # accepted; the job misbehaves when it runs
            req.fault = fault
            return self._process(req)
        if fault.kind == "429":
            return Reply(429, ACCOUNT_LIMIT, {"Retry-After": "1"})
        if fault.kind == "503":
            plain = "text/plain; charset=utf-8"
            return Reply(
                503, raw=UNAVAILABLE_TEXT, headers={"Retry-After": "1"}, content_type=plain
            )
        if fault.kind == "422":  # a validation refusal, nothing applied
            refusal = record_invalid("base", "Refused by an injected fault")
            return Reply(422, refusal.body)
        if fault.kind == "500":
            if fault.processes:  # carried out, then the answer is lost
                self._process(req)
            return Reply(500, raw=SERVER_ERROR_PAGE, content_type="text/html; charset=utf-8")
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            return self._process(req)
        processed = self._process(req) if fault.processes else None
        if fault.kind == "malformed":
            whole = processed.payload() if processed is not None else TRUNCATED_STUB * 2
            headers = processed.headers if processed is not None else {}
            return Reply(200, raw=whole[: max(1, len(whole) // 2)], headers=headers)
        return Reply(0, drop_after=fault.seconds)  # timeout

    def _process(self, req: Request) -> Reply:
        """Authenticate, rate-limit, route and run the handler; errors become replies."""
        self.jobs.advance()  # bulk jobs due by now run before the request is answered
        try:
            user = self._authenticate(req)
            self._spend(req)
            handler, args = route(req.method, req.path)
            ctx = Context(
                self.store,
                user,
                self.base,
                self.recent_window,
                self.custom_ids,
                self.events,
                self.jobs,
            )
            reply = handler(ctx, req, args)
        except ApiError as exc:
            reply = Reply(exc.status, exc.body, dict(exc.headers))
        except Exception:  # a sandbox bug must not kill the server thread
            log.exception("sandbox handler failed for %s %s", req.method, req.path)
            reply = Reply(500, {"error": "InternalError", "description": "Sandbox handler failed"})
        reply.headers.update(self._rate_headers(req))
        return reply

    def _authenticate(self, req: Request) -> User:
        """The API user from HTTP Basic `email/token:token` (or a Bearer token = the bot)."""
        header = next((v for k, v in req.headers.items() if k.lower() == "authorization"), "")
        scheme, _, value = header.partition(" ")
        bot = self.store.users[self.store.bot_id]
        if scheme.lower() == "bearer" and value.strip() == self.token:
            return bot
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            login, _, secret = decoded.partition(":")
            if login.endswith("/token") and secret == self.token:
                found = self.store.user_by_email(login[: -len("/token")])
                return found if found is not None and found.is_agent else bot
        raise ApiError(401, UNAUTHENTICATED, {"WWW-Authenticate": 'Basic realm="Web Password"'})

    def _spend(self, req: Request) -> None:
        """Count the request against its endpoint budget and the account budget."""
        path = normalise(req.path)
        if path in (_EXPORT_PATH, _EVENTS_PATH):
            self.incremental.spend(INCREMENTAL_LIMIT)
        if req.method == "PUT" and _UPDATE_PATH.match(path):
            self.updates.spend(UPDATE_LIMIT)
        self.account.spend(ACCOUNT_LIMIT)

    def _rate_headers(self, req: Request) -> dict[str, str]:
        """The rate-limit headers Zendesk sends (both observed spellings of the account limit)."""
        remaining = str(self.account.remaining())
        headers = {
            "x-rate-limit": str(self.account.limit),
            "x-rate-limit-remaining": remaining,
            "rate-limit": str(self.account.limit),
            "rate-limit-remaining": remaining,
            "rate-limit-reset": str(self.account.resets()),
        }
        if req.method == "PUT" and _UPDATE_PATH.match(normalise(req.path)):
            headers["zendesk-rate-limit-tickets-update"] = (
                f"total={self.updates.limit}; remaining={self.updates.remaining()}; "
                f"resets={self.updates.resets()}"
            )
        return headers
