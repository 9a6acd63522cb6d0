"""The RT change feed: a TicketSQL search on `LastUpdated`, oldest change first.

`GET /tickets?query=LastUpdated >= 'YYYY-MM-DD HH:MM:SS'&orderby=LastUpdated&orderby=id` with
page URLs built here (the `next_page` RT returns is not used). `LastUpdated` has one-second
granularity, so the query is inclusive at the bookmark's second (the overlap) and the ids
already seen at that second are dropped (the dedupe). After each page the walk re-anchors at
the latest second seen, page 1, like the Freshdesk feed, so tickets updated during the walk
(our own writes included) never shift a page; only a page that sits entirely at the anchor
second moves on to the next page number of the same query.

The bookmark is the shared `FeedCursor` JSON: `{"updated_since": "...Z", "seen": [ids]}`.
TicketSQL dates are read in the API user's time zone: the bot user (or RT's `$Timezone`) must
be UTC, as the example profile says.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from esc_sync.connectors.cursor import FeedCursor as FeedCursor
from esc_sync.connectors.rt.client import RTClient
from esc_sync.connectors.rt.normalize import MalformedRecord, num, parse_time, rt_time
from esc_sync.errors import AuthError

ORDER_BY = ("LastUpdated", "id")
MAX_PAGES_AT_ONE_SECOND = 10_000


def feed_query(cursor: FeedCursor) -> str:
    """The TicketSQL of the feed from the cursor's second (inclusive: the overlap)."""
    return f"LastUpdated >= '{rt_time(cursor.since)}'"


def has_more(body: dict[str, Any], page_no: int, per_page: int, count: int) -> bool:
    """Whether another page follows: RT's `pages` when it gives one, else a full page."""
    pages = body.get("pages")
    if isinstance(pages, int) and not isinstance(pages, bool):
        return page_no < pages
    return count >= per_page


def check_time_zone(client: RTClient, items: list[Any], bot_name: str | None) -> bool:
    """Whether RT reads our UTC dates as UTC (True once checked); AuthError when it does not.

    RT reads `'YYYY-MM-DD HH:MM:SS'` in the API user's time zone (a `UTC` suffix is ignored),
    so a bot user in another zone would make the feed miss or repeat changes. One search for
    a ticket of the page within its own `Created` second tells; pages without one wait.
    """
    for raw in items:
        ticket_id = num(raw.get("id")) if isinstance(raw, dict) else None
        try:
            created = parse_time(raw.get("Created"), "Created")
        except (MalformedRecord, AttributeError):
            continue
        if ticket_id is None:
            continue
        end = created + timedelta(seconds=1)
        query = (
            f"id = {ticket_id} AND Created >= '{rt_time(created)}' AND Created < '{rt_time(end)}'"
        )
        if not client.search(query, 1).get("items"):
            raise AuthError(
                f"RT user {bot_name!r} reads TicketSQL dates in a time zone other than UTC: "
                "set its time zone (Preferences > Locale) or RT's $Timezone to UTC, or the "
                "change feed would miss or repeat changes"
            )
        return True
    return False
