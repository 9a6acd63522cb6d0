"""Comments: cursor pagination, author roles and the derived rule fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.connectors.zendesk.normalize import SideLoads, normalize_ticket
from esc_sync.errors import PaginationStalled, SkippableError
from esc_sync.model import Ticket
from tests.connectors.zendesk_payloads import BASE, load, template_ticket

COMMENTS = f"{BASE}/api/v2/tickets/2/comments.json"
ME = f"{BASE}/api/v2/users/me.json"
AGENT, BOT, STRANGER, REQUESTER = 377922500099, 377922500777, 377922500555, 377922500012


def comment(cid: int, author: int, body: str, public: bool, at: str) -> dict[str, Any]:
    """A comment shaped like the recorded ones."""
    return {
        "id": cid,
        "type": "Comment",
        "body": body,
        "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
        "plain_body": body,
        "public": public,
        "author_id": author,
        "attachments": [],
        "audit_id": cid + 1000,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "metadata": {"system": {}, "custom": {}},
        "created_at": at,
    }


def last_page() -> dict[str, Any]:
    """The second and last comments page, with its authors side-loaded."""
    users = load("synthetic/incremental_sideloads.json")["users"]
    users.append({**users[1], "id": BOT, "name": "esc-sync", "role": "admin"})
    return {
        "comments": [
            comment(10, AGENT, "Looking into it", True, "2019-06-03T03:00:00Z"),
            comment(11, BOT, "Escalated to tier2", False, "2019-06-03T03:10:00Z"),
            comment(12, AGENT, "briefing esc-sync:sla:2:1", False, "2019-06-03T03:20:00Z"),
            comment(13, STRANGER, "me too", True, "2019-06-03T04:00:00Z"),
            comment(14, REQUESTER, "any news?", True, "2019-06-04T00:00:00Z"),
            comment(15, AGENT, "internal: check logs", False, "2019-06-04T01:00:00Z"),
        ],
        "users": users,
        "meta": {"has_more": False, "after_cursor": None, "before_cursor": "zzz"},
        "links": {"prev": None, "next": None},
    }


@pytest.fixture
def ticket(profile: ConnectorProfile) -> Ticket:
    """The recorded ticket as the change feed delivers it."""
    return normalize_ticket(template_ticket(), SideLoads(), profile)


def test_comments_are_paged_and_roles_assigned(
    zd: ZendeskConnector, api: responses.RequestsMock, ticket: Ticket
) -> None:
    api.get(ME, json={"user": {"id": BOT, "name": "esc-sync", "role": "admin"}})
    api.get(COMMENTS, json=load("ticket_comments_cursor_page.json"))  # recorded, has_more: true
    api.get(COMMENTS, json=last_page())

    loaded = zd.load_comments(ticket)

    roles = {c.id: c.author_role for c in loaded.comments}
    assert roles == {
        2: "customer",  # the requester
        3: "customer",
        10: "agent",
        11: "worker",  # the bot user
        12: "worker",  # carries the marker
        13: "customer",  # not side-loaded as agent: treated as a customer
        14: "customer",
        15: "agent",
    }
    first, second = (c.request.url for c in api.calls[1:])
    assert first == f"{COMMENTS}?include=users&page%5Bsize%5D=100"
    assert second == f"{COMMENTS}?include=users&page%5Bsize%5D=100&page%5Bafter%5D=xxx"
    assert loaded.comments_loaded
    assert loaded.unknown == frozenset({"reopens"})
    assert loaded.customer_replies == 3
    assert loaded.latest_customer_comment == "any news?"
    assert loaded.agent_replies == 1
    assert loaded.first_agent_reply_at == datetime(2019, 6, 3, 3, 0, tzinfo=UTC)
    assert loaded.last_agent_comment == "internal: check logs"
    assert loaded.markers() == {"esc-sync:sla:2:1"}
    assert zd.calls == {"GET /api/v2/users/me.json": 1, "GET /api/v2/tickets/{id}/comments.json": 2}


def test_profile_bot_user_saves_the_me_call(
    profile: ConnectorProfile, api: responses.RequestsMock, ticket: Ticket
) -> None:
    zd = ZendeskConnector(profile.model_copy(update={"bot_user_id": AGENT}), sleep=lambda s: None)
    api.get(COMMENTS, json=last_page())
    roles = {c.id: c.author_role for c in zd.load_comments(ticket).comments}
    assert roles[10] == "worker"  # the profile's bot user
    assert roles[11] == "agent"  # an admin, but not the configured bot
    assert len(api.calls) == 1


def test_next_link_is_followed_when_meta_has_no_cursor(
    zd: ZendeskConnector, api: responses.RequestsMock, ticket: Ticket
) -> None:
    zd.bot_user_id = BOT
    first = load("ticket_comments_cursor_page.json")
    first["meta"]["after_cursor"] = None
    first["links"] = {"next": f"{COMMENTS}?page%5Bafter%5D=abc&page%5Bsize%5D=100", "prev": None}
    api.get(COMMENTS, json=first)
    api.get(COMMENTS, json=last_page())
    zd.load_comments(ticket)
    assert "page%5Bafter%5D=abc" in api.calls[1].request.url


def test_a_comment_cursor_that_repeats_raises(
    zd: ZendeskConnector, api: responses.RequestsMock, ticket: Ticket
) -> None:
    zd.bot_user_id = BOT
    api.get(COMMENTS, json=load("ticket_comments_cursor_page.json"))
    with pytest.raises(PaginationStalled):
        zd.load_comments(ticket)
    assert len(api.calls) == 2


def test_comments_of_a_vanished_ticket_are_skippable(
    zd: ZendeskConnector, api: responses.RequestsMock, ticket: Ticket
) -> None:
    zd.bot_user_id = BOT
    api.get(COMMENTS, status=404, json=load("error_404_record_not_found.json"))
    with pytest.raises(SkippableError):
        zd.load_comments(ticket)
