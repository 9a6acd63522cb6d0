"""Requester tags and satisfaction for Freshdesk, without a request per ticket.

Contacts: a requester seen for the first time is read once (`GET /api/v2/contacts/{id}`) and
kept in the worker's RecordCache; after that, one walk of the contacts listing per cycle,
filtered by update time (`_updated_since`), refreshes every cached contact that changed, so a
tag change is seen within a cycle. The listing has its own per-minute limit (Contacts List: 20
a minute on Growth, §B6), so its pages are spaced out under `CONTACT_LIST_PER_MINUTE`.

Ratings: one walk of the account's ratings listing per cycle, filtered by creation time
(`created_since`), keeps each ticket's latest rating; a ticket's satisfaction is read from the
cache instead of `GET /tickets/{id}/satisfaction_ratings`. 403 (no surveys on the plan): every
ticket's satisfaction is "none", known.

The listing filters `_updated_since` and `created_since` are not in helpdesk-apis.md (no
recorded traffic or vendor text there): [G], checked against the sandbox only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from esc_sync.connectors.base import RecordCache
from esc_sync.connectors.freshdesk.client import FreshdeskClient
from esc_sync.connectors.freshdesk.normalize import MalformedRecord, parse_time, ticket_id_of
from esc_sync.connectors.payload import format_time
from esc_sync.errors import HelpdeskError, PaginationStalled, SkippableError

CONTACT_LIST_PER_MINUTE = 20  # the lowest plan's Contacts List limit (Growth, §B6)
MAX_PAGES = 300
CONTACT, RATING, CURSOR = "freshdesk.contact", "freshdesk.rating", "freshdesk.cursor"


def contact_tags(contact: dict[str, Any]) -> list[str] | None:
    """A contact's tags, lower-cased, in order, without duplicates; None when the record has
    no `tags` list (unknown, not empty: the recorded search result has none)."""
    tags = contact.get("tags")
    if not isinstance(tags, list):
        return None
    return list(dict.fromkeys(t.strip().lower() for t in tags if isinstance(t, str) and t))


class People:
    """Contacts and ratings of one Freshdesk account, kept in a RecordCache."""

    def __init__(
        self,
        client: FreshdeskClient,
        cache: RecordCache,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.cache = cache
        self.sleep = sleep
        self.clock = clock
        self.ratings_available = True
        self.refreshed = False
        # Contacts are read only while a rule reads `requester.tags` (`use_fields`).
        self.want_tags = True
        self._last_list: float | None = None

    # -- contacts ---------------------------------------------------------------------------

    def tags_of(self, contact_id: int | None) -> tuple[str, ...] | None:
        """The contact's tags (read once on first sight); None when there is no readable
        contact (remembered too, so an agent requester costs one request, not one a cycle)."""
        if contact_id is None or not self.want_tags:
            return None
        cached = self.cache.get(CONTACT, str(contact_id))
        if cached is None:
            try:
                cached = {"tags": contact_tags(self.client.contact(contact_id))}
            except SkippableError:  # not a contact (an agent), or gone: not asked again
                cached = {"tags": None}
            self.cache.put(CONTACT, str(contact_id), cached)
        tags = cached.get("tags")
        return tuple(tags) if isinstance(tags, list) else None

    def refresh(self, start: datetime) -> None:
        """Once a cycle: contacts updated and ratings created since the last walk."""
        self.refreshed = True
        if self.want_tags:
            self._refresh_contacts(start)
        self._refresh_ratings(start)

    def _refresh_contacts(self, start: datetime) -> None:
        since = self._cursor("contacts", start)
        latest = since
        for item in self._walk(self._paced_contacts, since, "GET /api/v2/contacts"):
            cid = ticket_id_of(item)
            if cid is None:
                continue
            self.cache.put(CONTACT, str(cid), {"tags": contact_tags(item)})
            latest = max(latest, _time(item.get("updated_at"), latest))
        self.cache.put(CURSOR, "contacts", {"since": format_time(latest)})

    def _paced_contacts(self, since: str, page: int) -> tuple[list[Any] | None, int | None]:
        """A contacts page, spaced from the last one under the listing's own limit."""
        gap = 60.0 / CONTACT_LIST_PER_MINUTE
        if self._last_list is not None:
            wait = gap - (self.clock() - self._last_list)
            if wait > 0:
                self.sleep(wait)
        try:
            return self.client.list_contacts(since, page)
        finally:
            self._last_list = self.clock()

    # -- ratings ----------------------------------------------------------------------------

    def satisfaction(self, ticket_id: int) -> dict[str, Any] | None:
        """The ticket's latest rating, as the listing showed it (None: none seen)."""
        return self.cache.get(RATING, str(ticket_id))

    def _refresh_ratings(self, start: datetime) -> None:
        if not self.ratings_available:
            return
        since = self._cursor("ratings", start)
        latest = since
        try:
            items = list(self._walk(self.client.list_ratings, since, "GET /api/v2/surveys/…"))
        except SkippableError as exc:
            if exc.status != 403:
                raise
            self.ratings_available = False  # surveys not on this plan: stop asking
            return
        for item in sorted(items, key=lambda r: (str(r.get("created_at") or ""), r.get("id") or 0)):
            tid = item.get("ticket_id")
            if not isinstance(tid, int) or isinstance(tid, bool):
                continue
            self.cache.put(
                RATING, str(tid), {k: item.get(k) for k in ("id", "ratings", "created_at")}
            )
            latest = max(latest, _time(item.get("created_at"), latest))
        self.cache.put(CURSOR, "ratings", {"since": format_time(latest)})

    # -- shared -----------------------------------------------------------------------------

    def _cursor(self, name: str, start: datetime) -> datetime:
        """Where a listing was read up to (the feed's start on the first walk)."""
        kept = self.cache.get(CURSOR, name)
        since = kept.get("since") if kept else None
        return _time(since, start.replace(microsecond=0))

    def _walk(
        self,
        fetch: Callable[[str, int], tuple[list[Any] | None, int | None]],
        since: datetime,
        what: str,
    ) -> list[dict[str, Any]]:
        """Every item of a listing filtered from `since`, following `Link` pages."""
        items: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None:
            body, nxt = fetch(format_time(since), page)
            if body is None:
                raise HelpdeskError(f"{what}: malformed page (not a JSON array)")
            items += [i for i in body if isinstance(i, dict)]
            if nxt is not None and (nxt <= page or nxt > MAX_PAGES):
                raise PaginationStalled(f"{what}: next page {nxt} after page {page}")
            page = nxt
        return items


def _time(value: Any, default: datetime) -> datetime:
    """A listing timestamp, or `default` when it is missing or unreadable."""
    try:
        return parse_time(value, "updated_at") if value else default
    except MalformedRecord:
        return default
