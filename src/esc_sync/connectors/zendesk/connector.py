"""The Zendesk connector: the change feed, comments, write-back and follow-up tasks.

Change feed: the cursor-based incremental ticket export
(developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/):
`start_time` on the first call only, then `cursor=<after_cursor>`; stop on `end_of_stream`,
never on an empty page; the `after_cursor` of the last page is kept for the next poll.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import requests
import structlog

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import Page, SkippedRecord, derive_comment_fields
from esc_sync.connectors.http import Sleep
from esc_sync.connectors.zendesk.client import (
    SHOW_MANY_MAX,
    ZendeskClient,
    next_comments_params,
)
from esc_sync.connectors.zendesk.events import prefetch
from esc_sync.connectors.zendesk.normalize import (
    MalformedRecord,
    SideLoads,
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

log = structlog.get_logger("esc_sync.connectors")
ROLE_CACHE_MAX = 200_000
_ROLE_DICTS: dict[str, dict[str, Any]] = {}


class ZendeskConnector:
    """A Zendesk Support account as the worker sees it (implements `Connector`)."""

    def __init__(
        self,
        profile: ConnectorProfile,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.name = profile.name or "zendesk"
        self.profile = profile
        self.client = ZendeskClient(profile, session=session, sleep=sleep)
        self.calls: Counter[str] = self.client.calls  # requests made, by "METHOD /path-template"
        self.bot_user_id: int | None = profile.bot_user_id
        self._me_checked = False
        # user id -> {"role": ...} of every user the change feed side-loaded (bounded), so the
        # bulk comment read can tell agents from customers without another call
        self._roles: dict[int, dict[str, Any]] = {}
        self._log = log.bind(connector=self.name)

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
        """Keep the role of each side-loaded user (one shared dict per role)."""
        if len(self._roles) > ROLE_CACHE_MAX:
            self._roles.clear()
        for user_id, user in side.users.items():
            role = user.get("role")
            if isinstance(role, str):
                self._roles[user_id] = _ROLE_DICTS.setdefault(role, {"role": role})

    def prefetch_comments(self, tickets: Sequence[Ticket]) -> dict[int, list[Comment]]:
        """Complete comment lists for some of these tickets from the ticket-event export."""
        return prefetch(self.client, tickets, bot_user_id=self._bot_user(), users=self._roles)

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
        """Create a follow-up task ticket; after an ambiguous failure, look for it first."""
        try:
            body = self.client.create_ticket(task_body(task))
        except TransientError:
            # The POST may have landed before the failure: the external id tells.
            found = self.find_task(task.external_id)
            if found is None:
                raise
            return found
        ticket_id = ticket_id_of(body.get("ticket"))
        if ticket_id is None:
            raise HelpdeskError("POST /api/v2/tickets.json: response has no ticket id")
        self._log.info("zendesk.task_created", ticket=task.parent_ticket, task=ticket_id)
        return ticket_id
