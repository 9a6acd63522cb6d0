"""The Zendesk connector: the change feed, comments, write-back and follow-up tasks.

Change feed: the cursor-based incremental ticket export
(developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/):
`start_time` on the first call only, then `cursor=<after_cursor>`; stop on `end_of_stream`,
never on an empty page; the `after_cursor` of the last page is kept for the next poll.

Bulk writes (`BulkWriter`): `tickets/update_many` and `tickets/create_many` jobs of up to 100
items, followed with `job_statuses/show_many` (helpdesk-apis.md §A5.4).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import requests

from esc_sync import logs
from esc_sync.clock import system_now
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import (
    HttpBacked,
    JobItem,
    JobStatus,
    Page,
    SkippedRecord,
    derive_comment_fields,
    job_slot,
)
from esc_sync.connectors.http import Sleep
from esc_sync.connectors.payload import is_int
from esc_sync.connectors.zendesk.client import (
    BULK_MAX,
    SHOW_MANY_MAX,
    ZendeskClient,
    next_comments_params,
)
from esc_sync.connectors.zendesk.events import EventScan, prefetch
from esc_sync.connectors.zendesk.normalize import (
    AGENT_ROLES,
    MalformedRecord,
    SideLoads,
    bulk_update_item,
    chunks,
    is_deleted,
    normalize_comment,
    normalize_ticket,
    task_body,
    ticket_id_of,
    update_body,
    with_stamp,
)
from esc_sync.errors import (
    AuthError,
    HelpdeskError,
    PaginationStalled,
    SkippableError,
    TransientError,
)
from esc_sync.model import Comment, TaskCreate, Ticket, TicketUpdate

ROLE_CACHE_MAX = 200_000
_ROLE_DICTS: dict[str, dict[str, Any]] = {}
# Submissions remembered for mapping job results back (job statuses live an hour anyway).
SUBMISSIONS_MAX = 2_000
# An update item refused because the ticket changed since it was read (error code or text).
_CONFLICT = re.compile(r"conflict|collision|safe[ _-]?update|outdated|updated meanwhile", re.I)
JobKind = Literal["update", "create"]


@dataclass(frozen=True, slots=True)
class _Submission:
    """What a job was started with: its kind and each item's key, in the order sent."""

    kind: JobKind
    keys: tuple[int | str, ...]


class ZendeskConnector(HttpBacked):
    """A Zendesk Support account as the worker sees it (implements `Connector`)."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        now: Callable[[], datetime] = system_now,
    ) -> None:
        self.name = profile.name or "zendesk"
        self._now = now
        self.profile = profile
        self.client = ZendeskClient(profile, session=session, sleep=sleep)
        self.calls: Counter[str] = self.client.calls  # requests made, by "METHOD /path-template"
        self.bot_user_id: int | None = profile.bot_user_id
        self.bulk_limit = BULK_MAX
        self._submissions: dict[str, _Submission] = {}  # job id -> what was sent, oldest first
        self._me_checked = False
        # user id -> {"role": ...} of every user the change feed side-loaded (bounded), so the
        # bulk comment read can tell agents from customers without another call
        self._roles: dict[int, dict[str, Any]] = {}
        self._scan = EventScan()  # the ticket-event export read so far (comments in bulk)
        self._log = logs.get_logger("esc_sync.connectors", connector=self.name)

    def check_auth(self) -> None:
        """Probe the credentials with `users/me`; remember the bot user's id."""
        user = self.client.me()
        user_id = user.get("id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            # Zendesk answers an unauthenticated `me` with an anonymous user, not a 401.
            raise AuthError("GET /api/v2/users/me.json: not authenticated (anonymous user)")
        if self.profile.bot_user_id is None:
            self.bot_user_id = user_id
        self._me_checked = True
        if user.get("role") != "admin":
            self._log.warning("zendesk.not_admin", role=user.get("role"))

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """Pages of the incremental export since the bookmark (or `start` on a first run)."""
        cursor = bookmark or None
        start_time = int(start.timestamp())
        while True:
            body = self.client.incremental_tickets(cursor=cursor, start_time=start_time)
            page = self._page(body, cursor)
            yield page
            if page.end_of_stream:
                return
            cursor = page.bookmark

    def _page(self, body: dict[str, Any], sent: str | None) -> Page:
        """Normalise one export response into a Page, checking that the cursor advances."""
        raw_tickets = body.get("tickets")
        end_of_stream = body.get("end_of_stream")
        after = body.get("after_cursor")
        if not isinstance(raw_tickets, list) or not isinstance(end_of_stream, bool):
            raise TransientError("GET /api/v2/incremental/tickets/cursor.json: malformed page")
        if not end_of_stream and (not isinstance(after, str) or not after or after == sent):
            raise PaginationStalled(
                f"GET /api/v2/incremental/tickets/cursor.json: cursor did not advance ({after!r})"
            )
        if not isinstance(after, str) or not after:
            # end_of_stream without a cursor: keep what we sent so the next poll resumes there.
            self._log.warning("zendesk.no_after_cursor", end_of_stream=end_of_stream)
            after = sent or ""
        side = SideLoads.from_body(body)
        self._remember_roles(side)
        page = Page(tickets=[], bookmark=after, end_of_stream=end_of_stream)
        for raw in raw_tickets:
            self._add_record(page, raw, side)
        self._scan.feed(page.tickets)  # the comment scan drops what earlier pages needed
        self._log.info(
            "zendesk.page",
            tickets=len(page.tickets),
            skipped=len(page.skipped),
            end_of_stream=end_of_stream,
        )
        return page

    def _add_record(self, page: Page, raw: Any, side: SideLoads) -> None:
        """Normalise one export record into the page, or record why it was skipped."""
        ticket_id = ticket_id_of(raw)
        if isinstance(raw, dict) and is_deleted(raw):
            page.skipped.append(SkippedRecord(ticket_id, "deleted", raw))
            return
        try:
            page.tickets.append(normalize_ticket(raw, side, self.profile))
        except MalformedRecord as exc:
            self._log.warning("zendesk.skipped", ticket=ticket_id, reason=str(exc))
            page.skipped.append(SkippedRecord(ticket_id, f"malformed: {exc}", raw))

    def _remember_roles(self, side: SideLoads) -> None:
        """Keep the role of each side-loaded agent or admin (one shared dict per role).

        End users are left out: a ticket's own requester is known without them, and a comment
        by another end user (a CC) only sends that ticket to the per-ticket read. Keeping them
        grew with the tickets of a long sync (about 10 MB per 130k users).
        """
        if len(self._roles) > ROLE_CACHE_MAX:
            self._roles.clear()
        for user_id, user in side.users.items():
            role = user.get("role")
            if isinstance(role, str) and role in AGENT_ROLES:
                self._roles[user_id] = _ROLE_DICTS.setdefault(role, {"role": role})

    def prefetch_comments(self, tickets: Sequence[Ticket]) -> dict[int, list[Comment]]:
        """Complete comment lists for some of these tickets from the ticket-event export."""
        return prefetch(
            self.client,
            tickets,
            bot_user_id=self._bot_user(),
            users=self._roles,
            clock=lambda: self._now().timestamp(),
            scan=self._scan,
        )

    def load_comments(self, ticket: Ticket) -> Ticket:
        """The ticket with all its comments (cursor-paginated) and comment fields derived."""
        bot_user_id = self._bot_user()
        comments: list[Comment] = []
        after: dict[str, Any] | None = None
        seen: set[str] = set()
        while True:
            body = self.client.comments_page(ticket.id, after)
            side = SideLoads.from_body(body)
            raw_comments = body.get("comments")
            if not isinstance(raw_comments, list):
                raise SkippableError(
                    f"GET /api/v2/tickets/{{id}}/comments.json (ticket {ticket.id}): "
                    "malformed page",
                    ticket_id=ticket.id,
                )
            for raw in raw_comments:
                comments.append(self._comment(ticket, raw, bot_user_id, side))
            after = next_comments_params(body)
            if after is None:
                break
            key = str(sorted(after.items()))
            if not after or key in seen:
                raise PaginationStalled(
                    f"GET /api/v2/tickets/{{id}}/comments.json (ticket {ticket.id}): "
                    "cursor did not advance",
                    ticket_id=ticket.id,
                )
            seen.add(key)
        return derive_comment_fields(ticket, comments)

    def _comment(
        self, ticket: Ticket, raw: Any, bot_user_id: int | None, side: SideLoads
    ) -> Comment:
        """One comment; a malformed one makes the ticket skippable, never silently partial."""
        try:
            if not isinstance(raw, dict):
                raise MalformedRecord("comment is not an object")
            return normalize_comment(
                raw, requester_id=ticket.requester.id, bot_user_id=bot_user_id, users=side.users
            )
        except MalformedRecord as exc:
            raise SkippableError(
                f"comments of ticket {ticket.id}: {exc}", ticket_id=ticket.id
            ) from None

    def _bot_user(self) -> int | None:
        """The worker's own user id, asking Zendesk once when the profile does not say."""
        if self.bot_user_id is None and not self._me_checked:
            self.check_auth()
        return self.bot_user_id

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """Re-read one ticket (without comments)."""
        body = self.client.ticket(ticket_id)
        raw = body.get("ticket")
        if not isinstance(raw, dict) or is_deleted(raw):
            raise SkippableError(
                f"GET /api/v2/tickets/{{id}}.json (ticket {ticket_id}): no readable ticket",
                ticket_id=ticket_id,
            )
        try:
            return normalize_ticket(raw, SideLoads.from_body(body), self.profile)
        except MalformedRecord as exc:
            raise SkippableError(f"ticket {ticket_id}: {exc}", ticket_id=ticket_id) from None

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Re-read tickets 100 at a time; unknown, deleted or malformed ones are left out."""
        tickets: list[Ticket] = []
        for chunk in chunks(dict.fromkeys(ticket_ids), SHOW_MANY_MAX):
            body = self.client.show_many(chunk)
            side = SideLoads.from_body(body)
            raw_tickets = body.get("tickets")
            for raw in raw_tickets if isinstance(raw_tickets, list) else []:
                if not isinstance(raw, dict) or is_deleted(raw):
                    continue
                try:
                    tickets.append(normalize_ticket(raw, side, self.profile))
                except MalformedRecord as exc:
                    self._log.warning("zendesk.skipped", ticket=ticket_id_of(raw), reason=str(exc))
        return tickets

    def apply_update(self, update: TicketUpdate) -> str | None:
        """One PUT with every change (safe_update when a version is known); then the reply."""
        ticket = update_body(update, self.profile)
        stamp = update.version
        if ticket:
            stamp = self._put(update.ticket_id, ticket, stamp)
        if update.customer_message is not None:
            reply = {"comment": {"body": update.customer_message, "public": True}}
            stamp = self._put(update.ticket_id, reply, stamp)
        return stamp

    def _put(self, ticket_id: int, ticket: dict[str, Any], stamp: str | None) -> str | None:
        """One ticket PUT; returns the ticket's new `updated_at`."""
        # Without safe_update a repeated comment would post twice, so such a PUT is not retried
        # after an ambiguous failure; with it, a repeat that already landed answers 409.
        idempotent = stamp is not None or "comment" not in ticket
        body = self.client.update_ticket(
            ticket_id, with_stamp(ticket, stamp), idempotent=idempotent
        )
        result = body.get("ticket")
        new_stamp = result.get("updated_at") if isinstance(result, dict) else None
        self._log.info("zendesk.updated", ticket=ticket_id, fields=sorted(ticket))
        return new_stamp if isinstance(new_stamp, str) else None

    def find_task(self, external_id: str) -> int | None:
        """The id of the first ticket carrying this external id, if any."""
        body = self.client.tickets_by_external_id(external_id)
        tickets = body.get("tickets")
        for raw in tickets if isinstance(tickets, list) else []:
            ticket_id = ticket_id_of(raw)
            if ticket_id is not None:
                return ticket_id
        return None

    def create_task(self, task: TaskCreate) -> int:
        """Create a follow-up task ticket, its external id as the `Idempotency-Key` (so the
        create is retried at once after a lost answer); after the retries, look for it."""
        try:
            body = self.client.create_ticket(task_body(task), idempotency_key=task.external_id)
        except TransientError:
            # The POST may have landed before the failure (a key long expired): the id tells.
            found = self.find_task(task.external_id)
            if found is None:
                raise
            return found
        ticket_id = ticket_id_of(body.get("ticket"))
        if ticket_id is None:
            raise HelpdeskError("POST /api/v2/tickets.json: response has no ticket id")
        self._log.info("zendesk.task_created", ticket=task.parent_ticket, task=ticket_id)
        return ticket_id

    # ----- bulk writes (BulkWriter)

    def submit_updates(self, updates: Sequence[TicketUpdate]) -> str:
        """One `update_many` job, each ticket with its own changes; returns the job id.

        Raises ValueError for an empty batch, more than `bulk_limit` items, a ticket twice, or an
        item with both a note and a customer message (nothing is sent). After an ambiguous
        failure the job may exist: TransientError, never a second submission.
        """
        self._check_batch(len(updates), "updates")
        ids = [u.ticket_id for u in updates]
        if len(set(ids)) != len(ids):
            raise ValueError("submit_updates: a ticket appears twice in one job")
        items = [bulk_update_item(u, self.profile) for u in updates]
        job = self.client.update_many(items)
        return self._accepted(job, _Submission("update", tuple(ids)), "tickets/update_many")

    def submit_tasks(self, tasks: Sequence[TaskCreate]) -> str:
        """One `create_many` job with the same body per task as `create_task`; the job id."""
        self._check_batch(len(tasks), "tasks")
        keys = [t.external_id for t in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("submit_tasks: an external id appears twice in one job")
        items = [task_body(t)["ticket"] for t in tasks]
        job = self.client.create_many(items)
        return self._accepted(job, _Submission("create", tuple(keys)), "tickets/create_many")

    def _check_batch(self, size: int, what: str) -> None:
        """Refuse an empty or oversized batch before anything is sent."""
        if size == 0:
            raise ValueError(f"submit_{what}: nothing to submit")
        if size > self.bulk_limit:
            raise ValueError(f"submit_{what}: {size} items, at most {self.bulk_limit} per job")

    def _accepted(self, job: dict[str, Any], submission: _Submission, endpoint: str) -> str:
        """The job id of an accepted submission, remembered with what was sent."""
        job_id = job.get("id")
        if not isinstance(job_id, str) or not job_id:
            # Accepted (2xx) but unreadable: the job may well exist, so this is ambiguous.
            raise TransientError(f"{endpoint}: the answer has no job id")
        self._submissions[job_id] = submission
        while len(self._submissions) > SUBMISSIONS_MAX:
            del self._submissions[next(iter(self._submissions))]
        self._log.info(
            "zendesk.job_submitted",
            job=job_id,
            kind=submission.kind,
            items=len(submission.keys),
            status=job.get("status"),
        )
        return job_id

    def poll_jobs(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """The status of each job: `job_statuses/show_many`, 100 ids a call. A job the answer
        leaves out is `vanished` (expired after an hour, pushed out of the last 100, or never
        accepted). Should show_many answer 404, each job is asked alone."""
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(wanted, BULK_MAX):
            try:
                raws: list[Any] = self.client.job_statuses(chunk)
            except HelpdeskError as exc:
                if exc.status != 404 or isinstance(exc, TransientError):
                    raise
                raws = [self._one_job(job_id) for job_id in chunk]
            for raw in raws:
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    found[raw["id"]] = raw
        return {job_id: self._job_status(job_id, found.get(job_id)) for job_id in wanted}

    def jobs_in_flight(self) -> bool:
        """Whether any of the account's recent bulk jobs is queued or working (`JobLister`)."""
        return any(j.get("status") in ("queued", "working") for j in self.client.recent_jobs())

    def _one_job(self, job_id: str) -> dict[str, Any]:
        """One job's status, empty when the helpdesk answers 404."""
        try:
            return self.client.job_status(job_id)
        except HelpdeskError as exc:
            if exc.status == 404 and not isinstance(exc, TransientError):
                return {}
            raise

    def _job_status(self, job_id: str, raw: dict[str, Any] | None) -> JobStatus:
        """A raw job status as a JobStatus."""
        if raw is None:
            return JobStatus(job_id, "vanished", message="the helpdesk no longer knows this job")
        status = raw.get("status")
        message = raw.get("message") if isinstance(raw.get("message"), str) else None
        if status == "completed":
            items = self._job_items(job_id, raw.get("results"))
            return JobStatus(job_id, "completed", items=items, message=message)
        if status in ("failed", "killed"):
            return JobStatus(job_id, "failed", message=message or str(status))
        if status not in ("queued", "working"):
            self._log.warning("zendesk.job_status_unknown", job=job_id, status=status)
        return JobStatus(job_id, "running", message=message)

    def _job_items(self, job_id: str, results: Any) -> dict[int | str, JobItem]:
        """The outcome of each item of a completed job, keyed as the worker submitted them."""
        submission = self._submissions.get(job_id)
        items: dict[int | str, JobItem] = {}
        for position, raw in enumerate(results if isinstance(results, list) else []):
            if isinstance(raw, dict):
                item = _job_item(submission, position, raw)
                items[item.key] = item
        return items


def _job_item(submission: _Submission | None, position: int, raw: dict[str, Any]) -> JobItem:
    """One entry of a job's `results`.

    Updates are keyed by the ticket id (`id`, else the id sent at `index`). Creates are keyed by
    the external id sent at `index` (the entry's place in `results` when it has no index); when
    the submission is not known (a restarted worker), by the entry's own `external_id` if it
    has one, else by `job_slot(index)` (recovery matches the slot recorded in the intent).
    """
    index = raw["index"] if is_int(raw.get("index")) else position
    raw_id = raw["id"] if is_int(raw.get("id")) else None
    sent = submission.keys[index] if submission and 0 <= index < len(submission.keys) else None
    kind = (
        submission.kind if submission else ("create" if raw.get("action") == "create" else "update")
    )
    slot, ok = job_slot(index), _succeeded(raw)
    error = None if ok else (_failure_text(raw) or "failed")
    if kind == "update":
        key: int | str = raw_id if raw_id is not None else (sent if sent is not None else slot)
        conflict = not ok and _CONFLICT.search(error or "") is not None
        return JobItem(key, ok, error=error, conflict=conflict)
    external = raw.get("external_id")
    own = external if isinstance(external, str) and external else None
    key = sent if sent is not None else (own or slot)
    return JobItem(key, ok, id=raw_id if ok else None, error=error)


def _succeeded(raw: dict[str, Any]) -> bool:
    """True for a successful result entry (`success`, or no error and not `Failed`)."""
    success = raw.get("success")
    if isinstance(success, bool):
        return success
    return raw.get("error") is None and str(raw.get("status", "")).lower() != "failed"


def _failure_text(raw: dict[str, Any]) -> str:
    """`error: details` of a failed result entry (details may be text, an object or a list)."""
    parts = [_text(raw.get("error")), _text(raw.get("details"))]
    return ": ".join(p for p in parts if p)


def _text(value: Any) -> str:
    """An error code or details value as one line of text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        description = value.get("description")
        if isinstance(description, str):
            return description
        return "; ".join(f"{k}: {t}" for k, v in value.items() if (t := _text(v)))
    return str(value)
