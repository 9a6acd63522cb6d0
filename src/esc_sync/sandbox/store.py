"""The sandbox's in-memory helpdesk: users, organizations, groups, tickets and their comments.

Everything is guarded by one re-entrant lock; the HTTP handlers run on many threads. Rendering
to Zendesk JSON lives in `render.py`, validated writes in `writes.py`.

Change tracking mimics Zendesk's incremental export: every change stamps the ticket with a
strictly increasing `gen_us` (microseconds; `generated_timestamp` is its whole seconds), so a
change made after a poll always sorts after the poll's cursor, even within the same second.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from esc_sync.sandbox.errors import not_found

OPEN_ISH = ("new", "open", "pending", "hold")
STATUSES = (*OPEN_ISH, "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
AGENT_ROLES = ("agent", "admin")


class Clock:
    """Sandbox time: real time shifted so that start-up reads as `now` (or real time)."""

    def __init__(self, now: datetime | None = None) -> None:
        """Anchor the clock; a naive `now` is taken as UTC."""
        real = datetime.now(UTC)
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self.offset = (now - real) if now is not None else timedelta(0)

    def now(self) -> datetime:
        """The current sandbox time (UTC, microseconds)."""
        return datetime.now(UTC) + self.offset


@dataclass(slots=True)
class User:
    """An end user, agent or admin."""

    id: int
    name: str
    email: str
    role: str  # end-user | agent | admin
    created_at: datetime
    organization_id: int | None = None
    tags: list[str] = field(default_factory=list)
    default_group_id: int | None = None
    time_zone: str = "Eastern Time (US & Canada)"
    updated_at: datetime | None = None  # last change to the profile (tags); None: created_at

    @property
    def is_agent(self) -> bool:
        """True for agents and admins."""
        return self.role in AGENT_ROLES


@dataclass(slots=True)
class Organization:
    """A customer organization."""

    id: int
    name: str
    created_at: datetime
    tags: list[str] = field(default_factory=list)
    domain_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    """An agent group (the tiers map onto these)."""

    id: int
    name: str
    description: str
    created_at: datetime


@dataclass(slots=True)
class Comment:
    """One comment or internal note."""

    id: int
    author_id: int
    body: str
    html_body: str
    public: bool
    created_at: datetime
    audit_id: int
    channel: str = "web"


@dataclass(slots=True)
class Ticket:
    """A stored ticket with its comments and the counters its metric set is built from."""

    id: int
    subject: str
    status: str
    priority: str | None
    type: str | None
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    organization_id: int | None
    group_id: int | None
    tags: list[str]
    custom: dict[int, Any]
    created_at: datetime
    updated_at: datetime
    gen_us: int
    channel: str = "web"
    due_at: datetime | None = None
    external_id: str | None = None
    satisfaction: dict[str, Any] | None = None
    comments: list[Comment] = field(default_factory=list)
    reopens: int = 0
    solved_at: datetime | None = None
    status_updated_at: datetime | None = None
    initially_assigned_at: datetime | None = None
    assigned_at: datetime | None = None
    group_stations: int = 1
    assignee_stations: int = 0
    updates: int = 0  # seeded field changes without a comment (ticket-event export only)

    @property
    def generated_timestamp(self) -> int:
        """Whole epoch seconds of the last change, as the incremental export shows it."""
        return self.gen_us // 1_000_000


def to_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime."""
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def seconds(moment: datetime) -> datetime:
    """The moment truncated to whole seconds (Zendesk timestamps have second precision)."""
    return moment.replace(microsecond=0)


class Store:
    """The helpdesk's state; take `lock` around any read that must be consistent."""

    def __init__(self, clock: Clock) -> None:
        """An empty helpdesk on `clock`."""
        self.lock = threading.RLock()
        self.clock = clock
        self.users: dict[int, User] = {}
        self.organizations: dict[int, Organization] = {}
        self.groups: dict[int, Group] = {}
        self.tickets: dict[int, Ticket] = {}
        self.requests: list[dict[str, Any]] = []
        # POST /tickets `Idempotency-Key` -> (the body sent, the first answer, its headers)
        self.idempotent: dict[str, tuple[bytes, dict[str, Any], dict[str, str]]] = {}
        self.bot_id = 0  # the API user (an admin)
        self.default_agent_id = 0  # who edits through the admin hook when no one is named
        self._next_comment = 21_000_000_001
        self._next_audit = 31_000_000_001
        self._next_user = 382_000_000_001
        self._last_gen_us = 0

    # ----- time and ids
    def now(self) -> datetime:
        """Current sandbox time."""
        return self.clock.now()

    def comment_id(self) -> int:
        """A fresh comment id."""
        with self.lock:
            self._next_comment += 1
            return self._next_comment

    def audit_id(self) -> int:
        """A fresh audit id."""
        with self.lock:
            self._next_audit += 1
            return self._next_audit

    def next_ticket_id(self) -> int:
        """The id the next created ticket gets."""
        with self.lock:
            return max(self.tickets, default=0) + 1

    def stamp(self, ticket: Ticket) -> datetime:
        """Record a change: bump updated_at (strictly, per ticket) and the export position."""
        with self.lock:
            now = self.now()
            gen = max(to_us(now), self._last_gen_us + 1)
            self._last_gen_us = gen
            ticket.gen_us = gen
            ticket.updated_at = max(seconds(now), ticket.updated_at + timedelta(seconds=1))
            return ticket.updated_at

    def seeded(self, ticket: Ticket) -> None:
        """Add a ticket built by the seed, keeping the export position monotonic."""
        with self.lock:
            self.tickets[ticket.id] = ticket
            self._last_gen_us = max(self._last_gen_us, ticket.gen_us)

    # ----- lookups
    def ticket(self, ticket_id: int) -> Ticket:
        """The ticket, or a 404."""
        found = self.tickets.get(ticket_id)
        if found is None:
            raise not_found()
        return found

    def user(self, user_id: int | None) -> User | None:
        """The user with this id, if any."""
        return self.users.get(user_id) if user_id is not None else None

    def user_by_email(self, email: str) -> User | None:
        """The user with this email (case-insensitive), if any."""
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def add_end_user(self, name: str, email: str) -> User:
        """Create an end user (a requester given by name and email on ticket create)."""
        with self.lock:
            self._next_user += 1
            user = User(self._next_user, name or email, email, "end-user", seconds(self.now()))
            self.users[user.id] = user
            return user

    def is_agent(self, user_id: int | None) -> bool:
        """True when the user is an agent or admin."""
        user = self.user(user_id)
        return user is not None and user.is_agent

    # ----- export
    def changed_after(
        self, position: tuple[int, int], cap_us: int, limit: int
    ) -> tuple[list[Ticket], bool]:
        """Tickets whose (gen_us, id) is after `position` and gen_us ≤ cap; and whether more."""
        with self.lock:
            found = sorted(
                (
                    t
                    for t in self.tickets.values()
                    if (t.gen_us, t.id) > position and t.gen_us <= cap_us
                ),
                key=lambda t: (t.gen_us, t.id),
            )
        return found[:limit], len(found) > limit

    def log(self, entry: dict[str, Any]) -> None:
        """Append one API request to the request log."""
        with self.lock:
            self.requests.append(entry)

    def requests_snapshot(self) -> list[dict[str, Any]]:
        """A copy of the request log."""
        with self.lock:
            return [dict(entry) for entry in self.requests]

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self.lock:
            self.requests.clear()
