"""The Freshdesk connector: the change feed, conversations, write-back and follow-up tasks.

Change feed: see `feed.py` (re-anchored list walk, always with `updated_since`).
Write-back: Freshdesk has no optimistic concurrency, so the ticket is re-read just before
writing and a moved `updated_at` raises ConflictError (the worker re-reads and re-evaluates).
Then one `PUT /tickets/{id}` with every field, and only after it the private note carrying the
markers: a marker on the ticket means the whole update landed (crash recovery relies on it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from esc_sync import logs
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import (
    HttpBacked,
    MemoryCache,
    Page,
    RecordCache,
    SkippedRecord,
    derive_comment_fields,
)
from esc_sync.connectors.freshdesk.bodies import note_body, reply_body, task_body, update_body
from esc_sync.connectors.freshdesk.client import FreshdeskClient
from esc_sync.connectors.freshdesk.feed import MAX_PAGES, FeedCursor
from esc_sync.connectors.freshdesk.normalize import (
    MalformedRecord,
    description_comment,
    normalize_conversation,
    normalize_ticket,
    parse_time,
    ticket_id_of,
    with_people,
)
from esc_sync.connectors.freshdesk.people import People
from esc_sync.connectors.http import Sleep
from esc_sync.errors import (
    AuthError,
    ConflictError,
    HelpdeskError,
    PaginationStalled,
    SkippableError,
    TransientError,
)
from esc_sync.model import MARKER_PREFIX, Comment, TaskCreate, Ticket, TicketUpdate

COMPANY_TTL = 3600.0  # seconds a company (name, tier, tags) is cached
FEED = "GET /api/v2/tickets"


class FreshdeskConnector(HttpBacked):
    """A Freshdesk account as the worker sees it (implements `Connector`)."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Any = time.monotonic,
    ) -> None:
        self.name = profile.name or "freshdesk"
        self.profile = profile
        self.client = FreshdeskClient(profile, session=session, sleep=sleep)
        self.calls: Counter[str] = self.client.calls  # requests made, by "METHOD /path-template"
        self.bot_user_id: int | None = profile.bot_user_id
        self.bot_email: str | None = profile.email
        self._me_checked = False
        self._companies: dict[int, tuple[float, dict[str, Any]]] = {}
        self._clock = clock
        # the contacts listing's pacing is a deliberate pause: idle hooks hear it
        self.people = People(self.client, MemoryCache(), self.client.http.pause, clock)
        self._log = logs.get_logger("esc_sync.connectors", connector=self.name)

    def use_fields(self, fields: frozenset[str]) -> None:
        """Read contacts only while a rule reads `requester.tags` (implements `FieldDemand`)."""
        self.people.want_tags = any(f.split(".")[:2] == ["requester", "tags"] for f in fields)

    def use_cache(self, cache: RecordCache) -> None:
        """Keep contacts, ratings and their listing cursors in `cache` (implements
        `CachingConnector`): the worker lends its state store, so they survive restarts."""
        self.people.cache = cache

    @property
    def credits(self) -> Counter[str]:
        """API credits spent, by endpoint (`X-RateLimit-Used-CurrentRequest`)."""
        return self.client.http.credits

    def check_auth(self) -> None:
        """Probe the API key with `agents/me`; remember the agent's id and e-mail."""
        agent = self.client.me()
        agent_id = ticket_id_of(agent)
        if agent_id is None:
            raise AuthError("GET /api/v2/agents/me: no agent behind this API key")
        if self.profile.bot_user_id is None:
            self.bot_user_id = agent_id
        contact = agent.get("contact")
        email = contact.get("email") if isinstance(contact, dict) else None
        if self.bot_email is None and isinstance(email, str):
            self.bot_email = email
        self._me_checked = True

    # -- reading ------------------------------------------------------------------------------

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """Pages of tickets changed since the bookmark (or `start`), re-anchored every page."""
        cursor = FeedCursor.decode(bookmark)
        if cursor is None:
            if bookmark:
                self._log.warning("freshdesk.bookmark_unreadable", bookmark=bookmark[:80])
            cursor = FeedCursor(start.replace(microsecond=0))
        self.people.refresh(start)  # contacts and ratings changed since the last cycle
        page_no = 1
        while True:
            raw_list, next_no = self.client.list_tickets(cursor.updated_since, page_no)
            if raw_list is None:
                raise TransientError(f"{FEED}: malformed page (not a JSON array)")
            page, after = self._page(raw_list, cursor)
            page.end_of_stream = next_no is None
            yield page
            if next_no is None:
                return
            if after.since != cursor.since:
                cursor, page_no = after, 1  # re-anchor at the latest instant seen
                continue
            if next_no <= page_no:
                raise PaginationStalled(f"{FEED}: next page {next_no} after page {page_no}")
            if next_no > MAX_PAGES:
                raise PaginationStalled(
                    f"{FEED}: more than {MAX_PAGES} pages of tickets share the instant "
                    f"{cursor.updated_since}; the feed cannot advance"
                )
            cursor, page_no = after, next_no

    def _page(self, raw_list: list[Any], cursor: FeedCursor) -> tuple[Page, FeedCursor]:
        """Normalise one list page, dropping changes the cursor already covers."""
        changes: list[tuple[int, datetime]] = []
        fresh: list[tuple[int | None, Any]] = []
        skipped: list[SkippedRecord] = []
        for raw in raw_list:
            ticket_id = ticket_id_of(raw)
            try:
                updated = parse_time(raw.get("updated_at"), "updated_at")
            except (MalformedRecord, AttributeError):
                skipped.append(SkippedRecord(ticket_id, "malformed: no usable updated_at", raw))
                continue
            if ticket_id is None:
                skipped.append(SkippedRecord(None, "malformed: no ticket id", raw))
                continue
            changes.append((ticket_id, updated))
            if cursor.is_new(ticket_id, updated):
                fresh.append((ticket_id, raw))
        after = cursor.advance(changes)
        page = Page(tickets=[], bookmark=after.encode(), skipped=skipped)
        for ticket_id, raw in fresh:
            try:
                page.tickets.append(self._normalize(raw))
            except MalformedRecord as exc:
                self._log.warning("freshdesk.skipped", ticket=ticket_id, reason=str(exc))
                page.skipped.append(SkippedRecord(ticket_id, f"malformed: {exc}", raw))
        self._log.info(
            "freshdesk.page",
            tickets=len(page.tickets),
            duplicates=len(changes) - len(fresh),
            skipped=len(page.skipped),
            updated_since=cursor.updated_since,
        )
        return page, after

    def _normalize(self, raw: dict[str, Any]) -> Ticket:
        """A raw ticket as a model Ticket, with its company, requester tags and rating."""
        ticket = normalize_ticket(raw, self.profile, self._companies_of(raw))
        if ticket.is_worker_task:
            return ticket  # the worker's own follow-up: never evaluated
        return with_people(
            ticket,
            self.people.tags_of(ticket.requester.id),
            self.people.satisfaction(ticket.id),
            ratings_available=self.people.ratings_available,
        )

    @staticmethod
    def _epoch() -> datetime:
        """The start of a ratings walk for a ticket without a creation time."""
        return datetime(2000, 1, 1, tzinfo=UTC)

    def _companies_of(self, raw: Any) -> dict[int, dict[str, Any]]:
        """The ticket's company, read once per COMPANY_TTL (organization tags come from it)."""
        company_id = raw.get("company_id") if isinstance(raw, dict) else None
        if not isinstance(company_id, int) or isinstance(company_id, bool):
            return {}
        cached = self._companies.get(company_id)
        now = float(self._clock())
        if cached is None or now - cached[0] > COMPANY_TTL:
            try:
                company = self.client.company(company_id)
            except SkippableError:
                company = {}
            except HelpdeskError as exc:
                if exc.status != 404:
                    raise
                company = {}
            cached = (now, company)
            self._companies[company_id] = cached
        return {company_id: cached[1]} if cached[1] else {}

    def load_comments(self, ticket: Ticket) -> Ticket:
        """The ticket with its conversations and satisfaction, comment fields derived."""
        bot_user_id = self._bot_user()
        comments: list[Comment] = []
        first = description_comment(ticket)
        if first is not None:
            comments.append(first)
        page_no: int | None = 1
        while page_no is not None:
            raw_list, next_no = self.client.conversations(ticket.id, page_no)
            if raw_list is None:
                raise SkippableError(
                    f"GET /api/v2/tickets/{{id}}/conversations (ticket {ticket.id}): "
                    "malformed page",
                    ticket_id=ticket.id,
                )
            for raw in raw_list:
                comments.append(self._comment(ticket, raw, bot_user_id))
            if next_no is not None and next_no <= page_no:
                raise PaginationStalled(
                    f"GET /api/v2/tickets/{{id}}/conversations (ticket {ticket.id}): "
                    "page did not advance",
                    ticket_id=ticket.id,
                )
            page_no = next_no
        return derive_comment_fields(ticket, comments)

    def _comment(self, ticket: Ticket, raw: Any, bot_user_id: int | None) -> Comment:
        """One conversation; a malformed one makes the ticket skippable, never silently partial."""
        try:
            if not isinstance(raw, dict):
                raise MalformedRecord("conversation is not an object")
            return normalize_conversation(
                raw, requester_id=ticket.requester.id, bot_user_id=bot_user_id
            )
        except MalformedRecord as exc:
            raise SkippableError(
                f"conversations of ticket {ticket.id}: {exc}", ticket_id=ticket.id
            ) from None

    def _bot_user(self) -> int | None:
        """The worker's own agent id, asking Freshdesk once when the profile does not say."""
        if self.bot_user_id is None and not self._me_checked:
            self.check_auth()
        return self.bot_user_id

    def _read_raw(self, ticket_id: int) -> dict[str, Any]:
        """One raw ticket, or SkippableError when there is none to read."""
        raw = self.client.ticket(ticket_id)
        if ticket_id_of(raw) is None or raw.get("deleted") is True:
            raise SkippableError(
                f"GET /api/v2/tickets/{{id}} (ticket {ticket_id}): no readable ticket",
                ticket_id=ticket_id,
            )
        return raw

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """Re-read one ticket (without conversations)."""
        raw = self._read_raw(ticket_id)
        if not self.people.refreshed:  # outside a cycle (explain): its ratings since creation
            created = raw.get("created_at")
            self.people.refresh(parse_time(created) if isinstance(created, str) else self._epoch())
        try:
            return self._normalize(raw)
        except MalformedRecord as exc:
            raise SkippableError(f"ticket {ticket_id}: {exc}", ticket_id=ticket_id) from None

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Re-read tickets one by one (Freshdesk has no show-many); unreadable ones left out."""
        tickets: list[Ticket] = []
        for ticket_id in dict.fromkeys(ticket_ids):
            try:
                tickets.append(self.fetch_ticket(ticket_id))
            except SkippableError as exc:
                self._log.warning("freshdesk.skipped", ticket=ticket_id, reason=str(exc))
        return tickets

    # -- writing ------------------------------------------------------------------------------

    def apply_update(self, update: TicketUpdate) -> str | None:
        """Re-read, then one PUT with every field, then the marker note, then the reply."""
        tid = update.ticket_id
        fields_or_note = update.note is not None or not _fields_empty(update)
        stamp = update.version
        if fields_or_note:
            current = self._read_raw(tid)
            stamp = str(current.get("updated_at"))
            if update.version is not None and not _same_instant(update.version, stamp):
                raise ConflictError(
                    f"ticket {tid} changed since it was read ({update.version} -> {stamp})",
                    status=None,
                    ticket_id=tid,
                )
            body = update_body(update, self.profile, current)
            if body:
                result = self.client.update_ticket(tid, body)
                new_stamp = result.get("updated_at")
                stamp = new_stamp if isinstance(new_stamp, str) else stamp
                self._log.info("freshdesk.updated", ticket=tid, fields=sorted(body))
            if update.note is not None:  # last: a marker on the ticket means it all landed
                self.client.add_note(tid, note_body(update.note))
        if update.customer_message is not None:
            self.client.reply(tid, reply_body(update.customer_message))
        return stamp

    def find_task(self, external_id: str) -> int | None:
        """The child ticket of the parent named in the external id whose text carries it."""
        parent = _parent_of(external_id)
        if parent is None:
            return None
        try:
            found = self.client.associated_tickets(parent)
        except SkippableError:
            return None
        for child_id in _associated_ids(found):
            try:
                raw = self.client.ticket(child_id)
            except SkippableError:
                continue
            text = " ".join(str(raw.get(k) or "") for k in ("description_text", "description"))
            if external_id in text:
                return child_id
        return None

    def create_task(self, task: TaskCreate) -> int:
        """Create a follow-up child ticket; after an ambiguous failure, look for it first."""
        if self.bot_email is None and not self._me_checked:
            self.check_auth()
        body = task_body(task, self.bot_email, self.bot_user_id)
        try:
            created = self.client.create_ticket(body)
        except TransientError:
            found = self.find_task(task.external_id)  # the POST may have landed
            if found is None:
                raise
            return found
        task_id = ticket_id_of(created)
        if task_id is None:
            raise HelpdeskError("POST /api/v2/tickets: response has no ticket id")
        self._log.info("freshdesk.task_created", ticket=task.parent_ticket, task=task_id)
        return task_id


def _fields_empty(update: TicketUpdate) -> bool:
    """True when the update sets no ticket field (only a note or a reply)."""
    return (
        update.tags is None
        and update.group is None
        and update.priority is None
        and update.status is None
        and not update.custom_fields
    )


def _same_instant(a: str, b: str) -> bool:
    """Whether two `updated_at` values are the same moment (text compared when unparseable)."""
    try:
        return parse_time(a) == parse_time(b)
    except MalformedRecord:
        return a == b


def _parent_of(external_id: str) -> int | None:
    """The parent ticket id in a task external id `esc-sync:<connector>:<ticket>:ep<N>:…`."""
    parts = external_id.removeprefix(MARKER_PREFIX).split(":")
    if not external_id.startswith(MARKER_PREFIX) or len(parts) < 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def _associated_ids(body: Any) -> list[int]:
    """Child ids from an associated-tickets answer: ids, ticket objects, or an object of either."""
    items = body
    if isinstance(body, dict):
        items = next((v for v in body.values() if isinstance(v, list)), [])
    out: list[int] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        elif ticket_id_of(item) is not None:
            out.append(int(item["id"]))
    return out
