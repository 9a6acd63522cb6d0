"""`/__sandbox/...`: hooks for tests and the demo (no auth, not logged, never faulted).

GET    /__sandbox/requests                 the API request log: a list, oldest first
DELETE /__sandbox/requests                 empty it
GET    /__sandbox/faults                   faults still armed
POST   /__sandbox/faults                   arm one {"kind", "count", "path", "method", "seconds"}
DELETE /__sandbox/faults                   disarm all
GET    /__sandbox/tickets/{id}             the stored ticket with every comment and its metrics
POST   /__sandbox/tickets                  a customer opens a ticket {"ticket": {...}}
PUT    /__sandbox/tickets/{id}             a human agent edits fields {"ticket": {...}}
POST   /__sandbox/tickets/{id}/comments    someone writes {"author_id", "body", "public"}
GET    /__sandbox/expectations             what the default rules should do to the seed
GET    /__sandbox/jobs                     bulk jobs, oldest first, and the job settings
PUT    /__sandbox/jobs                     job settings {"delay": seconds, "limit": n}
POST   /__sandbox/jobs/advance             run the queued jobs that are due now
DELETE /__sandbox/jobs/{id}                the job's status vanishes (a queued job still runs)
GET    /__sandbox/webhooks                 webhook delivery attempts, oldest first
PUT    /__sandbox/webhooks                 send webhooks {"url", "secret"} on every change below
DELETE /__sandbox/webhooks                 stop sending webhooks

Opening, editing and commenting through these hooks sends the dialect's webhook when one is set
(`sandbox/webhooks.py`): signed, and retried when the receiver fails.

Bulk-job faults are armed like the others, e.g. {"kind": "job_items", "ids": [12]}; see Fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from esc_sync.sandbox.errors import INVALID_ENDPOINT, ApiError, record_invalid
from esc_sync.sandbox.faults import FaultBook, fault_from
from esc_sync.sandbox.jobs import JobBook
from esc_sync.sandbox.render import comment_json, metric_set_json, ticket_json
from esc_sync.sandbox.store import Store, User
from esc_sync.sandbox.webhooks import WebhookSender
from esc_sync.sandbox.wire import Reply, Request
from esc_sync.sandbox.writes import add_comment, create_ticket, ticket_payload, update_ticket


class Admin:
    """The admin endpoints over one store."""

    def __init__(
        self,
        store: Store,
        faults: FaultBook,
        base: str,
        expectations: dict[int, dict[str, Any]],
        custom_ids: tuple[int, ...],
        jobs: JobBook | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        """Admin hooks for `store` (and its bulk jobs, when the dialect has them)."""
        self.store = store
        self.webhooks = webhooks
        self.jobs = jobs
        self.faults = faults
        self.base = base
        self.expectations = expectations
        self.custom_ids = custom_ids
        self.routes: list[
            tuple[str, re.Pattern[str], Callable[[Request, tuple[str, ...]], Reply]]
        ] = [
            ("GET", re.compile(r"^/__sandbox/requests$"), self.get_requests),
            ("DELETE", re.compile(r"^/__sandbox/requests$"), self.clear_requests),
            ("GET", re.compile(r"^/__sandbox/faults$"), self.get_faults),
            ("POST", re.compile(r"^/__sandbox/faults$"), self.add_fault),
            ("DELETE", re.compile(r"^/__sandbox/faults$"), self.clear_faults),
            ("GET", re.compile(r"^/__sandbox/tickets/(\d+)$"), self.get_ticket),
            ("POST", re.compile(r"^/__sandbox/tickets$"), self.open_ticket),
            ("PUT", re.compile(r"^/__sandbox/tickets/(\d+)$"), self.edit_ticket),
            ("POST", re.compile(r"^/__sandbox/tickets/(\d+)/comments$"), self.write_comment),
            ("GET", re.compile(r"^/__sandbox/expectations$"), self.get_expectations),
            ("GET", re.compile(r"^/__sandbox/jobs$"), self.get_jobs),
            ("PUT", re.compile(r"^/__sandbox/jobs$"), self.set_jobs),
            ("POST", re.compile(r"^/__sandbox/jobs/advance$"), self.advance_jobs),
            ("DELETE", re.compile(r"^/__sandbox/jobs/([^/]+)$"), self.vanish_job),
            ("GET", re.compile(r"^/__sandbox/webhooks$"), self.get_webhooks),
            ("PUT", re.compile(r"^/__sandbox/webhooks$"), self.set_webhooks),
            ("DELETE", re.compile(r"^/__sandbox/webhooks$"), self.stop_webhooks),
        ]

    def handle(self, req: Request) -> Reply:
        """Route and answer one admin request."""
        path = req.path.rstrip("/")
        try:
            for method, pattern, handler in self.routes:
                found = pattern.match(path)
                if found and method == req.method:
                    return handler(req, found.groups())
            raise ApiError(404, INVALID_ENDPOINT)
        except ApiError as exc:
            return Reply(exc.status, exc.body, dict(exc.headers))

    def get_requests(self, req: Request, args: tuple[str, ...]) -> Reply:
        """The request log, oldest first (a bare JSON list)."""
        return Reply(200, self.store.requests_snapshot())

    def clear_requests(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Empty the request log."""
        self.store.clear_requests()
        return Reply(204)

    def get_faults(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Faults still armed."""
        return Reply(200, {"faults": self.faults.armed()})

    def add_fault(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Arm a fault."""
        fault = fault_from(req.json())
        self.faults.arm(fault)
        return Reply(201, {"fault": fault.describe()})

    def clear_faults(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Disarm every fault."""
        self.faults.clear()
        return Reply(204)

    def get_ticket(self, req: Request, args: tuple[str, ...]) -> Reply:
        """The stored ticket with all comments (internal notes too) and its metric set."""
        with self.store.lock:
            ticket = self.store.ticket(int(args[0]))
            body = ticket_json(self.store, ticket, self.base, generated=True)
            body["comments"] = [comment_json(self.store, c) for c in ticket.comments]
            body["metric_set"] = metric_set_json(self.store, ticket, self.base)
        return Reply(200, {"ticket": body})

    def _author(self, raw: Any, default: int) -> User:
        """The user acting in an admin hook (default given by the caller)."""
        author_id = default if raw is None else raw
        user = self.store.user(author_id) if isinstance(author_id, int) else None
        if user is None:
            raise record_invalid("author_id", f"Author: {author_id!r} is not valid")
        return user

    def open_ticket(self, req: Request, args: tuple[str, ...]) -> Reply:
        """A customer opens a ticket (requester_id is required, via web)."""
        payload = ticket_payload(req.json())
        requester = self._author(payload.get("requester_id"), -1)
        with self.store.lock:
            ticket, audit = create_ticket(
                self.store, payload, requester, self.custom_ids, channel="web"
            )
            body = {"ticket": ticket_json(self.store, ticket, self.base), "audit": audit}
        self._changed(ticket.id, "created")
        return Reply(201, body)

    def edit_ticket(self, req: Request, args: tuple[str, ...]) -> Reply:
        """A human agent edits a ticket (author_id optional: the assignee or a frontline agent)."""
        data = req.json()
        payload = ticket_payload(data)
        with self.store.lock:
            ticket = self.store.ticket(int(args[0]))
            agent = self._author(
                data.get("author_id"), ticket.assignee_id or self.store.default_agent_id
            )
            ticket, audit = update_ticket(
                self.store, ticket.id, payload, agent, channel="web", admin=True
            )
            body = {"ticket": ticket_json(self.store, ticket, self.base), "audit": audit}
        self._changed(ticket.id, "edit")
        return Reply(200, body)

    def write_comment(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Someone writes on a ticket; the author defaults to the requester, public to true."""
        data = req.json()
        if not isinstance(data, dict) or not str(data.get("body") or "").strip():
            raise record_invalid("body", "Body: cannot be blank", "BlankValue")
        with self.store.lock:
            ticket = self.store.ticket(int(args[0]))
            author = self._author(data.get("author_id"), ticket.requester_id)
            comment = add_comment(
                self.store,
                ticket.id,
                author.id,
                str(data["body"]),
                data.get("public", True) is not False,
            )
            body = {
                "comment": comment_json(self.store, comment),
                "ticket": ticket_json(self.store, ticket, self.base, generated=True),
            }
        self._changed(ticket.id, "comment")
        return Reply(201, body)

    def _changed(self, ticket_id: int, event: str) -> None:
        """Tell the webhook sender (after the store's lock is released)."""
        if self.webhooks is not None:
            self.webhooks.changed(ticket_id, event)

    def _sender(self) -> WebhookSender:
        if self.webhooks is None:
            raise ApiError(404, INVALID_ENDPOINT)
        return self.webhooks

    def get_webhooks(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Every delivery attempt so far."""
        sender = self._sender()
        return Reply(200, {"url": sender.url, "attempts": sender.attempts()})

    def set_webhooks(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Send webhooks to a URL with a secret (Zendesk: signing secret; Freshdesk: header)."""
        data = req.json()
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise record_invalid("url", "url must be a string")
        secret = data.get("secret", "")
        if not isinstance(secret, str):
            raise record_invalid("secret", "secret must be a string")
        self._sender().configure(data["url"], secret)
        return Reply(200, {"url": data["url"]})

    def stop_webhooks(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Stop sending webhooks."""
        self._sender().configure(None)
        return Reply(204)

    def get_expectations(self, req: Request, args: tuple[str, ...]) -> Reply:
        """The seed's expected outcome under the default rules, by ticket id."""
        return Reply(200, {str(k): v for k, v in sorted(self.expectations.items())})

    def _jobs(self) -> JobBook:
        """The job book (404 in a dialect without bulk jobs)."""
        if self.jobs is None:
            raise ApiError(404, INVALID_ENDPOINT)
        return self.jobs

    def _job_settings(self) -> dict[str, Any]:
        """The job settings as JSON."""
        jobs = self._jobs()
        return {"delay": jobs.delay, "limit": jobs.limit, "keep": jobs.keep}

    def get_jobs(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Every bulk job (visible or not) and the settings."""
        return Reply(200, {"jobs": self._jobs().listing(), "settings": self._job_settings()})

    def set_jobs(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Change how long jobs wait before running and how many may be active."""
        jobs = self._jobs()
        data = req.json()
        if not isinstance(data, dict):
            raise record_invalid("body", "Body must be an object")
        delay = data.get("delay", jobs.delay)
        limit = data.get("limit", jobs.limit)
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise record_invalid("delay", "delay must be a non-negative number of seconds")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise record_invalid("limit", "limit must be a positive integer")
        jobs.delay, jobs.limit = float(delay), limit
        return Reply(200, {"settings": self._job_settings()})

    def advance_jobs(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Run the due jobs now; the jobs afterwards."""
        jobs = self._jobs()
        jobs.advance()
        return Reply(200, {"jobs": jobs.listing()})

    def vanish_job(self, req: Request, args: tuple[str, ...]) -> Reply:
        """Forget a job's status, as Zendesk does after an hour or 100 newer jobs."""
        if not self._jobs().vanish(args[0]):
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        return Reply(204)
