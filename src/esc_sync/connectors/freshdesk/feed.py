"""The Freshdesk change-feed position: an instant and the ticket ids already seen at it.

`GET /api/v2/tickets?updated_since=T&order_by=updated_at&order_type=asc` is inclusive at T and
paginates by page number, which has two traps (peer-connectors.md §0, §1b, lessons 4–5):

- offsets drift: a ticket updated during the walk (our own writes included) moves to the end of
  the list and shifts every later page, so a row is skipped for good;
- page 301 is refused (the 300-page wall).

So every page re-anchors: the next request asks for `updated_since = <last updated_at seen>` at
page 1 and drops the ids already seen at that instant. Only when a whole page sits at the
anchor instant does the walk follow the `Link` header to the next page of the same instant;
300 such pages mean the feed cannot advance (`PaginationStalled`). The bookmark is this cursor
as JSON: `{"updated_since": "...Z", "seen": [ids at that instant]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from esc_sync.connectors.freshdesk.normalize import format_time, parse_time

MAX_PAGES = 300


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """Where the feed stands: changes at or after `since`, minus `seen` ids at `since`."""

    since: datetime
    seen: frozenset[int] = frozenset()

    def encode(self) -> str:
        """The opaque bookmark string kept by the worker."""
        return json.dumps(
            {"updated_since": format_time(self.since), "seen": sorted(self.seen)},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, bookmark: str | None) -> FeedCursor | None:
        """The cursor in a bookmark; None when there is none or it is not one of ours."""
        if not bookmark:
            return None
        try:
            data = json.loads(bookmark)
            since = parse_time(data["updated_since"], "updated_since")
            seen = frozenset(int(i) for i in data.get("seen", []))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(since, seen)

    @property
    def updated_since(self) -> str:
        """The `updated_since` parameter value."""
        return format_time(self.since)

    def is_new(self, ticket_id: int, updated_at: datetime) -> bool:
        """False for a change this cursor already covers (older, or seen at the instant)."""
        if updated_at < self.since:
            return False
        return not (updated_at == self.since and ticket_id in self.seen)

    def advance(self, changes: Iterable[tuple[int, datetime]]) -> FeedCursor:
        """The cursor after a page: its latest instant and every id seen at that instant."""
        items = list(changes)
        if not items:
            return self
        latest = max(at for _, at in items)
        if latest < self.since:
            return self
        ids = {tid for tid, at in items if at == latest}
        if latest == self.since:
            ids |= self.seen
        return FeedCursor(latest, frozenset(ids))
