"""The Request Tracker 5 connector: change feed, history, write-back and follow-up tasks.

Change feed: see `feed.py` (TicketSQL on LastUpdated, overlap + dedupe at one second).

Version and If-Match: RT's ETag for a ticket is the id of its latest transaction
(RT::REST2::Resource::Record::WithETag::generate_etag), which no search field exposes. So a
feed ticket's version is its `LastUpdated`, and `apply_update` first GETs the ticket (its ETag,
LastUpdated and custom fields): a moved `LastUpdated` raises ConflictError, otherwise the PUT
carries `If-Match: <that ETag>`, and a 412 raises ConflictError. When the history has been read
(`load_comments`) and nothing happened after the feed read, the version is the exact ETag
(`etag:<transaction id>`) and is compared with the GET's ETag instead. The GET also shows
the custom fields the ticket has: RT silently drops a custom field it does not know, so an
unmapped name is refused here before anything is written.

Writes: one `PUT /ticket/{id}` (Queue, Priority, Status, CustomFields; the Owner is left to RT),
its message list checked (`writes.py`), then the briefing as a comment (a marker on the ticket
means the update landed), then the customer message as correspondence.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import requests

from esc_sync import logs
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import HttpBacked, Page, SkippedRecord
from esc_sync.connectors.http import Sleep
from esc_sync.connectors.rt.client import RTClient
from esc_sync.connectors.rt.feed import (
    MAX_PAGES_AT_ONE_SECOND,
    ORDER_BY,
    FeedCursor,
    check_time_zone,
    feed_query,
    has_more,
)
from esc_sync.connectors.rt.history import ETAG_PREFIX, HistoryReader
from esc_sync.connectors.rt.normalize import (
    MalformedRecord,
    cf_values,
    is_deleted,
    normalize_ticket,
    num,
    parse_time,
)
from esc_sync.connectors.rt.writes import (
    check_messages,
    check_posted,
    task_body,
    update_body,
)
from esc_sync.errors import (
    AuthError,
    ConflictError,
    HelpdeskError,
    PaginationStalled,
    SkippableError,
    TransientError,
)
from esc_sync.model import TaskCreate, Ticket, TicketUpdate

FEED = "GET /tickets"


class RTConnector(HttpBacked):
    """A Request Tracker 5 instance as the worker sees it (implements `Connector`)."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.name = profile.name or "rt"
        self.profile = profile
        self.client = RTClient(profile, session=session, sleep=sleep)
        self._task_id_queues: set[str] = set()  # queues seen keeping the task-id field
        self.calls: Counter[str] = self.client.calls  # requests made, by "METHOD /path-template"
        self.bot_name: str | None = profile.email
        self.bot_user_id: int | None = profile.bot_user_id
        self.history = HistoryReader(self.client, profile, self._is_bot)
        self.zone_checked = False  # the bot's TicketSQL time zone was verified to be UTC
        self._log = logs.get_logger("esc_sync.connectors", connector=self.name)

    def check_auth(self) -> None:
        """`GET /rt` with the token, then the bot user named by the profile's `email`."""
        self.client.system()
        if not self.bot_name:
            return
        try:
            user = self.client.user(self.bot_name)
        except HelpdeskError as exc:
            if exc.status != 404 or isinstance(exc, AuthError):
                raise
            raise AuthError(f"profile email {self.bot_name!r}: no such RT user") from None
        if self.bot_user_id is None:
            self.bot_user_id = num(user.get("id"))

    def _is_bot(self, author_id: int | None, name: str | None) -> bool:
        """Whether a user is the worker's own (the profile's `email` / `bot_user_id`)."""
        by_name = bool(name) and name == self.bot_name
        return by_name or (author_id is not None and author_id == self.bot_user_id)

    # -- reading ------------------------------------------------------------------------------

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """Pages of tickets changed since the bookmark (or `start`), re-anchored every page."""
        cursor = FeedCursor.decode(bookmark)
        if cursor is None:
            if bookmark:
                self._log.warning("rt.bookmark_unreadable", bookmark=bookmark[:80])
            cursor = FeedCursor(start.replace(microsecond=0))
        page_no = 1
        while True:
            body = self.client.search(feed_query(cursor), page_no, order_by=ORDER_BY)
            items = body.get("items")
            if not isinstance(items, list):
                raise TransientError(f"{FEED}: malformed page (no items list)")
            if not self.zone_checked:
                self.zone_checked = check_time_zone(self.client, items, self.bot_name)
            page, after = self._page(items, cursor)
            more = has_more(body, page_no, self.client.per_page, len(items))
            page.end_of_stream = not more
            yield page
            if not more:
                return
            if after.since != cursor.since:
                cursor, page_no = after, 1  # re-anchor at the latest second seen
                continue
            if page_no >= MAX_PAGES_AT_ONE_SECOND:
                raise PaginationStalled(
                    f"{FEED}: more than {page_no} pages of tickets share the second "
                    f"{cursor.updated_since}; the feed cannot advance"
                )
            cursor, page_no = after, page_no + 1

    def _page(self, items: list[Any], cursor: FeedCursor) -> tuple[Page, FeedCursor]:
        """Normalise one search page, dropping changes the cursor already covers."""
        changes: list[tuple[int, datetime]] = []
        fresh: list[tuple[int, Any]] = []
        skipped: list[SkippedRecord] = []
        for raw in items:
            ticket_id = num(raw.get("id")) if isinstance(raw, dict) else None
            try:
                updated = parse_time(raw.get("LastUpdated"), "LastUpdated")
            except (MalformedRecord, AttributeError):
                skipped.append(
                    SkippedRecord(ticket_id, f"malformed: ticket {ticket_id}: no LastUpdated", raw)
                )
                continue
            if ticket_id is None:
                skipped.append(SkippedRecord(None, "malformed: ticket without an id", raw))
                continue
            changes.append((ticket_id, updated))
            if cursor.is_new(ticket_id, updated):
                fresh.append((ticket_id, raw))
        after = cursor.advance(changes)
        page = Page(tickets=[], bookmark=after.encode(), skipped=skipped)
        for ticket_id, raw in fresh:
            self._add_record(page, ticket_id, raw)
        self._log.info(
            "rt.page",
            tickets=len(page.tickets),
            duplicates=len(changes) - len(fresh),
            skipped=len(page.skipped),
            since=cursor.updated_since,
        )
        return page, after

    def _add_record(self, page: Page, ticket_id: int, raw: Any) -> None:
        """Normalise one record into the page, or record why it was skipped."""
        if is_deleted(raw):
            page.skipped.append(SkippedRecord(ticket_id, "deleted", raw))
            return
        try:
            page.tickets.append(normalize_ticket(raw, self.profile))
        except MalformedRecord as exc:
            self._log.warning("rt.skipped", ticket=ticket_id, reason=str(exc))
            page.skipped.append(
                SkippedRecord(ticket_id, f"malformed: ticket {ticket_id}: {exc}", raw)
            )

    def load_comments(self, ticket: Ticket) -> Ticket:
        """The ticket with its history: comments, description, reopens (see `history.py`)."""
        return self.history.load(ticket)

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """Re-read one ticket (a search by id: the requestor's fields come nested)."""
        for ticket in self._search_ids([ticket_id], strict=True):
            return ticket
        raise SkippableError(
            f"{FEED} (ticket {ticket_id}): no readable ticket (deleted, merged or missing)",
            ticket_id=ticket_id,
        )

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Re-read tickets a page of ids a search; unknown, deleted or malformed ones left out."""
        ids = list(dict.fromkeys(ticket_ids))
        size = self.client.per_page  # one page answers them all
        tickets: list[Ticket] = []
        for start in range(0, len(ids), size):
            tickets.extend(self._search_ids(ids[start : start + size], strict=False))
        return tickets

    def _search_ids(self, ids: list[int], *, strict: bool) -> list[Ticket]:
        """Tickets by id in one search (`id = 1 OR id = 2 ...`)."""
        query = " OR ".join(f"id = {int(i)}" for i in ids)
        body = self.client.search(query, 1)
        out: list[Ticket] = []
        for raw in body.get("items") or []:
            ticket_id = num(raw.get("id")) if isinstance(raw, dict) else None
            if ticket_id is None or is_deleted(raw):
                continue
            try:
                out.append(normalize_ticket(raw, self.profile))
            except MalformedRecord as exc:
                if strict:
                    raise SkippableError(
                        f"ticket {ticket_id}: {exc}", ticket_id=ticket_id
                    ) from None
                self._log.warning("rt.skipped", ticket=ticket_id, reason=str(exc))
        return out

    # -- writing ------------------------------------------------------------------------------

    def apply_update(self, update: TicketUpdate) -> str | None:
        """Check the version, one PUT with If-Match, then the marker comment, then the reply.

        Returns `etag:<id>` of the last message posted (RT's ETag right after it; a later
        scrip transaction only makes the next write re-read), or None after a bare PUT.
        """
        tid = update.ticket_id
        body = update_body(update, self.profile)
        stamp: str | None = None
        if body or update.note is not None:
            etag = self._check_version(update, body)
            if body:
                messages = self._put(tid, body, etag)
                for text in check_messages(tid, messages, body):
                    self._log.warning("rt.unrecognised_message", ticket=tid, message=text)
                self._log.info("rt.updated", ticket=tid, fields=sorted(body))
            if update.note is not None:  # last: a marker on the ticket means it all landed
                stamp = self._post(tid, "comment", update.note)
        if update.customer_message is not None:
            stamp = self._post(tid, "correspond", update.customer_message)
        return stamp

    def _check_version(self, update: TicketUpdate, body: dict[str, Any]) -> str:
        """GET the ticket: ConflictError when it moved since `update.version`; its ETag."""
        tid = update.ticket_id
        current, etag = self.client.ticket(tid)
        if is_deleted(current):
            raise SkippableError(f"ticket {tid} is deleted", ticket_id=tid)
        if not etag:
            raise HelpdeskError(f"GET /ticket/{{id}} (ticket {tid}): no ETag", ticket_id=tid)
        version = update.version
        if version is not None and not _same_version(version, etag, current.get("LastUpdated")):
            now = current.get("LastUpdated") if not version.startswith(ETAG_PREFIX) else etag
            raise ConflictError(
                f"ticket {tid} changed since it was read ({version} -> {now})", ticket_id=tid
            )
        self._check_fields(tid, current, body)
        return etag

    def _check_fields(self, tid: int, current: dict[str, Any], body: dict[str, Any]) -> None:
        """Refuse custom fields the ticket does not have (RT would drop them silently)."""
        sent = body.get("CustomFields")
        if not isinstance(sent, dict):
            return
        try:
            known = cf_values(current.get("CustomFields"))
        except MalformedRecord:
            return
        missing = sorted(name for name in sent if name not in known)
        if missing:
            raise HelpdeskError(
                f"ticket {tid}: custom field(s) {', '.join(map(repr, missing))} do not exist "
                f"on this ticket's queue (check the profile {self.profile.path or self.name!r} "
                "[fields] and the field's queues in RT)",
                ticket_id=tid,
            )

    def _put(self, tid: int, body: dict[str, Any], etag: str) -> list[Any]:
        """The conditional PUT; a 412 is a ConflictError."""
        try:
            return self.client.update_ticket(tid, body, etag)
        except HelpdeskError as exc:
            if exc.status == 412:
                raise ConflictError(
                    f"PUT /ticket/{{id}} (ticket {tid}): 412 Precondition Failed (changed)",
                    status=412,
                    ticket_id=tid,
                ) from None
            raise

    def _post(self, tid: int, kind: str, text: str) -> str | None:
        """A comment or correspondence; its transaction id as a version stamp."""
        messages, location = self.client.post_message(tid, kind, text)
        check_posted(tid, kind, messages)
        txn = num((location or "").rstrip("/").rsplit("/", 1)[-1])
        return f"{ETAG_PREFIX}{txn}" if txn is not None else None

    def find_task(self, external_id: str) -> int | None:
        """The ticket whose task-id field holds this external id (TicketSQL on the CF)."""
        cf = str(self.profile.fields.get("task_id") or "")
        if not cf:
            return None
        value = external_id.replace("\\", "\\\\").replace("'", "\\'")
        body = self.client.search(f"'CF.{{{cf}}}' = '{value}'", 1)
        ids = [num(i.get("id")) for i in body.get("items") or [] if isinstance(i, dict)]
        found = sorted(i for i in ids if i is not None)
        return found[0] if found else None

    def create_task(self, task: TaskCreate) -> int:
        """Create a child ticket; after an ambiguous failure, look for it before raising."""
        queue = str(task.group) if task.group is not None else self._queue_of(task.parent_ticket)
        try:
            created = self.client.create_ticket(task_body(task, self.profile, queue))
        except TransientError:
            found = self.find_task(task.external_id)  # the POST may have landed
            if found is None:
                raise
            return found
        task_id = num(created.get("id"))
        if task_id is None:
            raise HelpdeskError("POST /ticket: response has no ticket id")
        self._log.info("rt.task_created", ticket=task.parent_ticket, task=task_id)
        self._check_task_id_kept(task, task_id, queue)
        return task_id

    def _check_task_id_kept(self, task: TaskCreate, task_id: int, queue: str) -> None:
        """Read the task's id back once per queue: RT drops, without a word, the value of a
        custom field not applied to the ticket's queue, and a rerun could then not find the
        task. The task exists (its id is recorded, so nothing is created twice); a dropped id
        is logged as an error naming queue and field."""
        if queue in self._task_id_queues:
            return
        if self.find_task(task.external_id) == task_id:
            self._task_id_queues.add(queue)
            return
        self._log.error(
            "rt.task_id_dropped",
            ticket=task.parent_ticket,
            task=task_id,
            queue=queue,
            field=str(self.profile.fields.get("task_id") or ""),
            fix="apply this custom field to the queue; until then a task whose answer is "
            "lost cannot be found again",
        )

    def _queue_of(self, ticket_id: int) -> str:
        """The parent's queue, for a task without a group."""
        return str(self.fetch_ticket(ticket_id).group or "")


def _same_version(version: str, etag: str, last_updated: Any) -> bool:
    """Whether the ticket is still as read: same ETag, or the same LastUpdated second."""
    if version.startswith(ETAG_PREFIX):
        return version[len(ETAG_PREFIX) :] == etag.strip().strip('"')
    try:
        return parse_time(version) == parse_time(last_updated, "LastUpdated")
    except MalformedRecord:
        return bool(version == last_updated)
