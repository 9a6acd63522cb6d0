"""A ticket's history as comments: who wrote what, the description, reopens, the exact ETag.

Two requests for a ticket with up to 100 transactions: `POST /transactions` (a JSON search on
`ObjectType`/`ObjectId`, each author's numeric id and name nested) and `POST /attachments`
(`TransactionId` IN the Create/Correspond/Comment transactions: their text). The ticket's own
`/ticket/{id}/history` gives the same rows; the JSON search also takes many tickets at once,
which a bulk prefetch could use. Authors other than the bot, RT's system users and the
requestor are looked up once per connector (`GET /user/{id}`: `Privileged`), so a busy
instance pays for each agent once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import derive_comment_fields
from esc_sync.connectors.rt.client import PER_PAGE_MAX, RTClient
from esc_sync.connectors.rt.feed import has_more
from esc_sync.connectors.rt.normalize import (
    MESSAGE_TYPES,
    SYSTEM_USERS,
    MalformedRecord,
    Role,
    attachment_text,
    num,
    read_history,
)
from esc_sync.errors import AuthError, HelpdeskError, PaginationStalled, SkippableError
from esc_sync.model import MARKER_PREFIX, Ticket

ETAG_PREFIX = "etag:"
MAX_PAGES = 1_000
IsBot = Callable[[int | None, str | None], bool]


class HistoryReader:
    """Reads ticket histories for one connector, caching who is an agent."""

    def __init__(self, client: RTClient, profile: ConnectorProfile, is_bot: IsBot) -> None:
        self.client = client
        self.profile = profile
        self._is_bot = is_bot
        self._privileged: dict[str, bool] = {}  # user id (or name) -> Privileged

    def load(self, ticket: Ticket) -> Ticket:
        """The ticket with comments, comment fields, description, reopens filled in.

        When the latest transaction is no newer than the `LastUpdated` the ticket was read
        with, nothing happened since, and its id (RT's ETag) becomes the exact version.
        """
        txns = self._transactions(ticket.id)
        wanted = [n for t in txns if t.get("Type") in MESSAGE_TYPES and (n := num(t.get("id")))]
        contents = self._contents(ticket.id, wanted)
        try:
            role_of = partial(self.role, ticket)
            hist = read_history(
                txns, contents, self.profile, role_of, is_task=ticket.is_worker_task
            )
        except MalformedRecord as exc:
            raise SkippableError(
                f"history of ticket {ticket.id}: {exc}", ticket_id=ticket.id
            ) from None
        loaded = derive_comment_fields(ticket, hist.comments)
        loaded.description = hist.description
        loaded.reopens = hist.reopens
        loaded.unknown = loaded.unknown - {"description", "reopens"}
        read_at = ticket.updated_at
        if hist.last_id is not None and hist.last_at and read_at and hist.last_at <= read_at:
            loaded.version = f"{ETAG_PREFIX}{hist.last_id}"
        return loaded

    def _transactions(self, ticket_id: int) -> list[dict[str, Any]]:
        """Every transaction of the ticket, oldest first (all pages)."""
        out: list[dict[str, Any]] = []
        for page_no in range(1, MAX_PAGES + 1):
            body = self.client.transactions([ticket_id], page_no)
            items = body.get("items")
            if not isinstance(items, list):
                raise SkippableError(
                    f"POST /transactions (ticket {ticket_id}): malformed page", ticket_id=ticket_id
                )
            out.extend(i for i in items if isinstance(i, dict))
            if not has_more(body, page_no, PER_PAGE_MAX, len(items)):
                return out
        raise PaginationStalled(f"POST /transactions (ticket {ticket_id}): too many pages")

    def _contents(self, ticket_id: int, txn_ids: list[int]) -> dict[int, str]:
        """The text of each of these transactions (their attachments, 100 ids a request)."""
        contents: dict[int, str] = {}
        for start in range(0, len(txn_ids), PER_PAGE_MAX):
            chunk = txn_ids[start : start + PER_PAGE_MAX]
            for page_no in range(1, MAX_PAGES + 1):
                body = self.client.attachments(chunk, page_no)
                items = body.get("items")
                if not isinstance(items, list):
                    raise SkippableError(
                        f"POST /attachments (ticket {ticket_id}): malformed page",
                        ticket_id=ticket_id,
                    )
                texts = attachment_text(i for i in items if isinstance(i, dict))
                for txn_id, text in texts.items():
                    contents.setdefault(txn_id, text)
                if not has_more(body, page_no, PER_PAGE_MAX, len(items)):
                    break
        return contents

    def role(self, ticket: Ticket, author_id: int | None, name: str | None, body: str) -> Role:
        """Worker (bot, system user or a marker), customer (the requestor), else by Privileged."""
        if MARKER_PREFIX in body or name in SYSTEM_USERS or self._is_bot(author_id, name):
            return "worker"
        if author_id is not None and author_id == ticket.requester.id:
            return "customer"
        return "agent" if self._is_privileged(author_id, name) else "customer"

    def _is_privileged(self, author_id: int | None, name: str | None) -> bool:
        """A user's Privileged flag, read once (unreadable users count as unprivileged)."""
        key = str(author_id if author_id is not None else name)
        if key not in self._privileged:
            try:
                user = self.client.user(key)
            except SkippableError:
                user = {}
            except HelpdeskError as exc:
                if exc.status not in (403, 404) or isinstance(exc, AuthError):
                    raise
                user = {}
            self._privileged[key] = str(user.get("Privileged")) in ("1", "True")
        return self._privileged[key]
