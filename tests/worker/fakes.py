"""An in-memory helpdesk behind the Connector protocol, for worker tests."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import Page, derive_comment_fields
from esc_sync.errors import ConflictError, SkippableError
from esc_sync.model import Comment, TaskCreate, Ticket, TicketUpdate

PROFILE = ConnectorProfile(
    type="zendesk",
    base_url="https://fake.example",
    email="bot@example.com",
    token_env="FAKE_TOKEN",
    start="30d",
    groups={"t1": 1, "t2": 2, "t3": 3, "t4": 4},
    fields={"escalation_status": 11, "respond_by": 12, "resolve_by": 13, "refund_amount": 14},
    name="fake",
)


class Crash(Exception):
    """Stands for the process dying mid-write."""


class FakeHelpdesk:
    """Tickets, comments and tasks with versions, a change feed, and injectable failures."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.tickets: dict[int, Ticket] = {}
        self.comments: dict[int, list[Comment]] = {}
        self.tasks: dict[str, TaskCreate] = {}
        self.seq: dict[int, int] = {}
        self.counter = 0
        self.writes: list[TicketUpdate] = []
        self.conflict_next = 0
        self.crash_on_task = 0  # crash on the Nth task creation (1-based), once
        self.crash_before_put = False

    def add(self, ticket: Ticket, comments: Sequence[Comment] = ()) -> None:
        """Add or replace a ticket (counts as a change)."""
        self.counter += 1
        ticket = dataclasses.replace(ticket, version=f"v{self.counter}",
                                     unknown=frozenset({"latest_customer_comment",
                                                        "customer_comments"}))
        self.tickets[ticket.id] = ticket
        self.comments.setdefault(ticket.id, []).extend(comments)
        self.seq[ticket.id] = self.counter

    def touch(self, ticket_id: int, **changes: object) -> None:
        """A human changes a ticket."""
        self.add(dataclasses.replace(self.tickets[ticket_id], **changes))  # type: ignore[arg-type]


class FakeConnector:
    """The Connector protocol over a FakeHelpdesk."""

    def __init__(self, desk: FakeHelpdesk, page_size: int = 50) -> None:
        self.name = "fake"
        self.profile = PROFILE
        self.calls: Counter[str] = Counter()
        self.desk = desk
        self.page_size = page_size

    def check_auth(self) -> None:
        """Always fine."""

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """Tickets by change sequence after the bookmark."""
        self.calls["GET changes"] += 1
        after = int(bookmark or 0)
        changed = sorted((s, tid) for tid, s in self.desk.seq.items() if s > after)
        if not changed:
            yield Page(tickets=[], bookmark=str(after), end_of_stream=True)
            return
        for i in range(0, len(changed), self.page_size):
            chunk = changed[i : i + self.page_size]
            yield Page(
                tickets=[self.desk.tickets[tid] for _, tid in chunk],
                bookmark=str(chunk[-1][0]),
                end_of_stream=i + self.page_size >= len(changed),
            )

    def load_comments(self, ticket: Ticket) -> Ticket:
        """Comments from the desk."""
        self.calls["GET comments"] += 1
        return derive_comment_fields(ticket, self.desk.comments.get(ticket.id, []))

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """The current ticket."""
        self.calls["GET ticket"] += 1
        if ticket_id not in self.desk.tickets:
            raise SkippableError("not found", status=404, ticket_id=ticket_id)
        return self.desk.tickets[ticket_id]

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Several current tickets."""
        self.calls["GET show_many"] += 1
        return [self.desk.tickets[t] for t in ticket_ids if t in self.desk.tickets]

    def apply_update(self, update: TicketUpdate) -> str | None:
        """Apply with optimistic concurrency, like safe_update."""
        self.calls["PUT ticket"] += 1
        desk = self.desk
        if desk.crash_before_put:
            desk.crash_before_put = False
            raise Crash("died before the PUT reached the helpdesk")
        current = desk.tickets[update.ticket_id]
        if desk.conflict_next:
            desk.conflict_next -= 1
            desk.touch(update.ticket_id)
            raise ConflictError("changed", status=409, ticket_id=update.ticket_id)
        if update.version is not None and update.version != current.version:
            raise ConflictError("stale", status=409, ticket_id=update.ticket_id)
        desk.writes.append(update)
        changes: dict[str, object] = {}
        if update.tags is not None:
            changes["tags"] = update.tags
        if update.group is not None:
            changes["group"] = update.group
            changes["tier"] = PROFILE.tier_of_group(update.group)
        if update.priority is not None:
            changes["priority"] = update.priority
        if update.status is not None:
            changes["status"] = update.status
        for body, public in ((update.note, False), (update.customer_message, True)):
            if body:
                desk.comments[update.ticket_id].append(Comment(
                    id=len(desk.comments[update.ticket_id]) + 1000, author_id=99, body=body,
                    public=public, created_at=desk.now + timedelta(seconds=1),
                    author_role="worker"))
        desk.touch(update.ticket_id, **changes)
        return desk.tickets[update.ticket_id].version

    def find_task(self, external_id: str) -> int | None:
        """A task by external id."""
        self.calls["GET task by external_id"] += 1
        if external_id not in self.desk.tasks:
            return None
        return 5000 + list(self.desk.tasks).index(external_id)

    def create_task(self, task: TaskCreate) -> int:
        """Create a task, or crash when told to."""
        self.calls["POST task"] += 1
        desk = self.desk
        if desk.crash_on_task:
            desk.crash_on_task -= 1
            if desk.crash_on_task == 0:
                raise Crash("died while creating a task")
        desk.tasks[task.external_id] = task
        return 5000 + len(desk.tasks) - 1
