"""A change-feed position for APIs that filter by an updated-at instant: the instant and the
ticket ids already seen at it.

Feeds like Freshdesk's `updated_since` and RT's TicketSQL `LastUpdated >=` are inclusive at the
instant (one-second granularity in RT), so the next read starts at the latest instant seen and
drops the ids already handled there. The bookmark is this cursor as JSON:
`{"updated_since": "...Z", "seen": [ids at that instant]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from esc_sync.connectors.payload import format_time, parse_time


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
