"""Bulk jobs: `tickets/update_many` and `tickets/create_many` run in the background.

As on Zendesk (helpdesk-apis.md §A5.4): a submission of at most 100 items is answered at once
with a `queued` job status; the job runs later, each item written exactly like the single-ticket
PUT/POST (`writes.update_ticket` / `writes.create_ticket`: validation, safe_update, comments,
external ids), and one item's failure goes in `results` with `success: false` while the job
still `completed`. `additional_tags` / `remove_tags` change the tags as they are when the item
runs. Job ids are strings (`V3-<32 hex>`); only the last 100 statuses are kept, for an hour; at
most 30 jobs may be queued or working (429 `TooManyJobs`).

A job runs once it has waited `delay` seconds, at the next request the sandbox answers or the
next tick of the server's background thread, whichever comes first.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from esc_sync.sandbox.errors import TOO_MANY_JOBS, UPDATE_CONFLICT, ApiError
from esc_sync.sandbox.faults import Fault
from esc_sync.sandbox.store import Store, User
from esc_sync.sandbox.writes import create_ticket, normalise_tags, update_ticket

log = logging.getLogger(__name__)

JOB_LIMIT = 30  # jobs queued or working at once
KEEP = 100  # job statuses kept
RETENTION = 3600.0  # seconds a job status is kept
JobKind = Literal["update", "create"]
INJECTED = "Refused by an injected fault"


@dataclass(slots=True)
class Job:
    """One bulk job: what was submitted, how far it got, and its results."""

    id: str
    kind: JobKind
    items: list[tuple[int | None, dict[str, Any]]]  # (ticket id of an update, item payload)
    author: User
    submitted: float  # on the book's clock
    fault: Fault | None = None
    status: str = "queued"  # queued | working | completed | failed | killed
    progress: int | None = None
    message: str | None = None
    results: list[dict[str, Any]] | None = None
    hidden: bool = False  # vanished, or pushed out of the last KEEP statuses

    def describe(self) -> dict[str, Any]:
        """The job as the admin hook lists it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "visible": not self.hidden,
            "total": len(self.items),
            "progress": self.progress,
            "ticket_ids": [tid for tid, _ in self.items] if self.kind == "update" else None,
            "fault": self.fault.kind if self.fault else None,
        }


class JobBook:
    """Every bulk job of one sandbox; guarded by the store's lock."""

    def __init__(
        self,
        store: Store,
        custom_ids: tuple[int, ...],
        *,
        delay: float = 0.0,
        limit: int = JOB_LIMIT,
        keep: int = KEEP,
        retention: float = RETENTION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """An empty book; jobs run `delay` seconds after they were submitted."""
        self.store = store
        self.custom_ids = custom_ids
        self.delay = delay
        self.limit = limit
        self.keep = keep
        self.retention = retention
        self._clock = clock
        self._jobs: dict[str, Job] = {}  # submission order
        self._queued = 0

    # ----- submitting

    def submit(
        self,
        kind: JobKind,
        items: list[tuple[int | None, dict[str, Any]]],
        author: User,
        fault: Fault | None = None,
    ) -> Job:
        """Queue a job (429 TooManyJobs when `limit` jobs are queued or working)."""
        with self.store.lock:
            self._expire()
            active = sum(1 for j in self._jobs.values() if j.status in ("queued", "working"))
            if active >= self.limit:
                raise ApiError(429, TOO_MANY_JOBS, {"Retry-After": "1"})
            job = Job(
                id=f"V3-{secrets.token_hex(16)}",
                kind=kind,
                items=items,
                author=author,
                submitted=self._clock(),
                fault=fault,
            )
            self._jobs[job.id] = job
            self._queued += 1
            shown = [j for j in self._jobs.values() if not j.hidden]
            for old in shown[: max(0, len(shown) - self.keep)]:
                old.hidden = True
            return job

    # ----- reading

    def find(self, job_id: str) -> Job | None:
        """A job whose status is still kept."""
        with self.store.lock:
            self._expire()
            job = self._jobs.get(job_id)
            return job if job is not None and not job.hidden else None

    def listing(self) -> list[dict[str, Any]]:
        """Every job the book holds, visible or not, oldest first (the admin hook)."""
        with self.store.lock:
            return [j.describe() for j in self._jobs.values()]

    def vanish(self, job_id: str) -> bool:
        """Forget a job's status (a queued job still runs); False when it is not known."""
        with self.store.lock:
            job = self._jobs.get(job_id)
            if job is None or job.hidden:
                return False
            job.hidden = True
            return True

    def json(self, job: Job, base: str) -> dict[str, Any]:
        """The `job_status` object, keys in the order Zendesk sends them."""
        return {
            "id": job.id,
            "url": f"{base}/api/v2/job_statuses/{job.id}.json",
            "total": len(job.items),
            "progress": job.progress,
            "status": job.status,
            "message": job.message,
            "results": job.results,
        }

    # ----- running

    def advance(self) -> None:
        """Run every queued job that has waited `delay` seconds."""
        if not self._queued:
            return
        with self.store.lock:
            now = self._clock()
            for job in list(self._jobs.values()):
                if job.status == "queued" and now - job.submitted >= self.delay:
                    self._queued -= 1
                    self._run(job)
            self._expire()

    def _expire(self) -> None:
        """Hide statuses older than `retention`; drop hidden jobs that have run."""
        now = self._clock()
        for job_id, job in list(self._jobs.items()):
            if now - job.submitted >= self.retention:
                job.hidden = True
            if job.hidden and job.status != "queued":
                del self._jobs[job_id]

    def _run(self, job: Job) -> None:
        """Apply the job's items, shaped by its fault when it has one."""
        fault = job.fault
        kind = fault.kind if fault else None
        total = len(job.items)
        if kind in ("job_stuck", "job_failed", "job_killed", "job_vanish"):
            assert fault is not None
            default = total if kind == "job_vanish" else 0
            applied = min(total, default if fault.applied is None else fault.applied)
            for index in range(applied):
                self._item(job, index)
            job.progress = applied
            if kind == "job_vanish":
                job.hidden = True
                job.status = "completed"
            elif kind == "job_stuck":
                job.status = "working"
                job.message = f"{'Updating' if job.kind == 'update' else 'Creating'} Ticket"
            else:
                job.status = "failed" if kind == "job_failed" else "killed"
                job.message = f"Job {job.status}"
            return
        job.results = [self._item(job, index) for index in range(total)]
        job.progress = total
        job.status = "completed"
        job.message = f"Completed at {_utc(self.store.now())}"

    def _item(self, job: Job, index: int) -> dict[str, Any]:
        """Write one item like the single-ticket endpoint would; its result entry."""
        ticket_id, payload = job.items[index]
        fault = job.fault
        if (
            fault is not None
            and fault.kind == "job_items"
            and (index in fault.indexes or (ticket_id is not None and ticket_id in fault.ids))
        ):
            code = fault.error or "RecordInvalid"
            details = str(UPDATE_CONFLICT["description"]) if code == "UpdateConflict" else INJECTED
            return self._failure(job, index, ticket_id, code, details)
        try:
            if job.kind == "update":
                assert ticket_id is not None
                update_ticket(
                    self.store, ticket_id, _bulk_payload(self.store, ticket_id, payload), job.author
                )
                return {"action": "update", "id": ticket_id, "status": "Updated", "success": True}
            ticket, _ = create_ticket(self.store, payload, job.author, self.custom_ids)
            return {
                "action": "create",
                "id": ticket.id,
                "index": index,
                "status": "Created",
                "success": True,
            }
        except ApiError as exc:
            code, details = _error_of(exc.body)
            return self._failure(job, index, ticket_id, code, details)
        except Exception:  # a sandbox bug must not stop the job or the ticker thread
            log.exception("sandbox job %s item %s failed", job.id, index)
            return self._failure(job, index, ticket_id, "InternalError", "Sandbox job failed")

    @staticmethod
    def _failure(
        job: Job, index: int, ticket_id: int | None, code: str, details: str
    ) -> dict[str, Any]:
        """A failed result entry."""
        entry: dict[str, Any] = {"action": job.kind, "index": index}
        if ticket_id is not None:
            entry["id"] = ticket_id
        return entry | {"status": "Failed", "success": False, "error": code, "details": details}


def _bulk_payload(store: Store, ticket_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """An update item as a single PUT body: `additional_tags`/`remove_tags` become `tags`."""
    if "additional_tags" not in payload and "remove_tags" not in payload:
        return payload
    out = {k: v for k, v in payload.items() if k not in ("additional_tags", "remove_tags")}
    ticket = store.ticket(ticket_id)  # 404 for an unknown ticket
    tags = normalise_tags(out["tags"]) if "tags" in out else list(ticket.tags)
    for tag in normalise_tags(payload.get("additional_tags", [])):
        if tag not in tags:
            tags.append(tag)
    removed = set(normalise_tags(payload.get("remove_tags", [])))
    out["tags"] = [t for t in tags if t not in removed]
    return out


def _error_of(body: Any) -> tuple[str, str]:
    """The error code and a one-line description of an error body."""
    if not isinstance(body, dict):
        return "InternalError", str(body)
    error = body.get("error")
    code = error if isinstance(error, str) else "InvalidValue"
    if isinstance(error, dict):
        return str(error.get("title") or code), str(error.get("message") or "")
    details = body.get("details")
    if isinstance(details, dict):
        lines = [
            f"{name}: {item.get('description') if isinstance(item, dict) else item}"
            for name, items in details.items()
            for item in (items if isinstance(items, list) else [items])
        ]
        return code, "; ".join(lines)
    return code, str(body.get("description") or "")


def _utc(moment: datetime) -> str:
    """`2023-10-08 17:22:38 +0000`, as job messages show times."""
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000")
