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

from esc_sync.connectors.cursor import FeedCursor as FeedCursor

MAX_PAGES = 300
