"""What every connector offers the worker, and the vendor-independent bits they share."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.budget import AccountBudgets
from esc_sync.connectors.http import HttpClient, IdleHook, ResponseHook
from esc_sync.model import COMMENT_FIELDS, Comment, TaskCreate, Ticket, TicketUpdate


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record of the change feed that could not be normalised."""

    ticket_id: int | None
    reason: str
    payload: Any = None


@dataclass(slots=True)
class Page:
    """One page of the change feed: its tickets and the bookmark to keep once it is applied."""

    tickets: list[Ticket]
    bookmark: str
    skipped: list[SkippedRecord] = field(default_factory=list)
    end_of_stream: bool = False


class Connector(Protocol):
    """A helpdesk as the worker sees it. Only connectors speak HTTP."""

    name: str
    profile: ConnectorProfile
    calls: Counter[str]  # requests made, by "METHOD endpoint-template"

    def check_auth(self) -> None:
        """One cheap authenticated call; raises AuthError or TransientError."""

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """Pages of changed tickets since the bookmark (or since `start` on a first run)."""

    def load_comments(self, ticket: Ticket) -> Ticket:
        """The same ticket with its comments and the comment-derived fields filled in."""

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """Re-read one ticket (without comments)."""

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Re-read several tickets in as few calls as the API allows."""

    def apply_update(self, update: TicketUpdate) -> str | None:
        """Write one ticket update atomically; returns the new version stamp.

        Raises ConflictError when the ticket changed since `update.version`.
        """

    def find_task(self, external_id: str) -> int | None:
        """The id of a follow-up task with this external id, if one exists."""

    def create_task(self, task: TaskCreate) -> int:
        """Create one follow-up task; returns its id."""


@dataclass(frozen=True, slots=True)
class JobItem:
    """The outcome of one item of a bulk job.

    `key` is what the item was submitted for: the ticket id of an update, the external id of a
    task, or `job_slot(index)` when the worker no longer knows what it sent there. `id` is the
    created task's id. `conflict` is True when the item failed because the ticket changed since
    it was read (the worker re-reads and decides again).
    """

    key: int | str
    ok: bool
    id: int | None = None
    error: str | None = None
    conflict: bool = False


def job_slot(index: int) -> str:
    """The key of a job item that a restarted worker can place only by its position in the
    submission (`index`): recovery matches it with the slot recorded in the intent."""
    return f"#{index}"


@dataclass(slots=True)
class JobStatus:
    """A bulk job as the helpdesk last reported it.

    `state` is `running` (queued or working), `completed` (every item has an outcome in
    `items`; some may have failed), `failed` (the job as a whole failed or was killed: nothing
    can be assumed about its items) or `vanished` (the helpdesk no longer knows the job).
    """

    id: str
    state: Literal["running", "completed", "failed", "vanished"]
    items: dict[int | str, JobItem] = field(default_factory=dict)
    message: str | None = None


@runtime_checkable
class BulkWriter(Protocol):
    """Optional: a connector that writes many tickets or tasks per request (asynchronous jobs).

    Submissions are not retried after an ambiguous failure (the job may exist): the worker
    treats such a job like one that vanished and settles its items by reading the tickets.
    """

    bulk_limit: int  # items per job

    def submit_updates(self, updates: Sequence[TicketUpdate]) -> str:
        """Start one job writing these updates (at most `bulk_limit`); returns the job id."""
        ...

    def submit_tasks(self, tasks: Sequence[TaskCreate]) -> str:
        """Start one job creating these tasks (at most `bulk_limit`); returns the job id."""
        ...

    def poll_jobs(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """The status of each job, in as few requests as the API allows."""
        ...


@runtime_checkable
class CommentPrefetcher(Protocol):
    """Optional: a connector that reads the comments of many tickets in a few requests."""

    def prefetch_comments(self, tickets: Sequence[Ticket]) -> dict[int, list[Comment]]:
        """Complete comment lists for some of the tickets (the rest: `load_comments`)."""
        ...


class RecordCache(Protocol):
    """A small persisted key -> record store the worker lends a connector (contacts it read,
    listing cursors), so what it learnt survives a restart without a request per ticket."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record kept under (kind, key), or None."""
        ...

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        """Keep `record` under (kind, key), replacing what was there."""
        ...


class MemoryCache:
    """A RecordCache in memory (the default until the worker lends a persisted one)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record kept under (kind, key), or None."""
        return self.records.get((kind, key))

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        """Keep `record` under (kind, key)."""
        self.records[(kind, key)] = record


@runtime_checkable
class CachingConnector(Protocol):
    """Optional: a connector that keeps what it read in a RecordCache the worker lends it."""

    def use_cache(self, cache: RecordCache) -> None:
        """Keep records in `cache` from now on."""
        ...


@runtime_checkable
class ObservableConnector(Protocol):
    """Optional: a connector whose HTTP answers can be watched (metrics count 429s with it)."""

    def add_response_hook(self, hook: ResponseHook) -> None:
        """Call `hook(status, method, path_template)` for every answer, retried ones included."""
        ...


@runtime_checkable
class PausingConnector(Protocol):
    """Optional: a connector whose deliberate pauses can be watched (a worker keeps its lease
    alive through a long rate-limit pause with it)."""

    def add_idle_hook(self, hook: IdleHook, every: float) -> None:
        """Call `hook()` at least every `every` seconds while the connector pauses on purpose."""
        ...


@runtime_checkable
class FieldDemand(Protocol):
    """Optional: a connector that reads some fields only while a rule reads them."""

    def use_fields(self, fields: frozenset[str]) -> None:
        """The fields the policy's rules read now (again after each policy reload)."""
        ...


@runtime_checkable
class JobLister(Protocol):
    """Optional: a bulk writer that can tell whether any of the account's jobs still runs
    (recovery then settles a submission whose answer was lost without waiting it out)."""

    def jobs_in_flight(self) -> bool:
        """Whether any of the account's recent bulk jobs is queued or working."""
        ...


@runtime_checkable
class BudgetSharing(Protocol):
    """Optional: a connector whose account budget can be shared with other workers."""

    def share_budget(self, accounts: AccountBudgets) -> None:
        """Count this connector's requests in the account's shared budget."""
        ...


class HttpBacked:
    """Mixin of the connectors whose API client keeps its `HttpClient` at `client.http`:
    response hooks (`ObservableConnector`), idle hooks (`PausingConnector`) and the shared
    account budget (`BudgetSharing`)."""

    profile: ConnectorProfile

    def _http(self) -> HttpClient:
        http: HttpClient = self.client.http  # type: ignore[attr-defined]
        return http

    def add_response_hook(self, hook: ResponseHook) -> None:
        """Tell `hook` of every HTTP answer received (implements `ObservableConnector`)."""
        self._http().add_response_hook(hook)

    def add_idle_hook(self, hook: IdleHook, every: float) -> None:
        """Tell `hook` every `every` seconds of a deliberate pause (`PausingConnector`)."""
        self._http().add_idle_hook(hook, every)

    def share_budget(self, accounts: AccountBudgets) -> None:
        """Count requests in the account's budget shared by every worker (`BudgetSharing`)."""
        self._http().budget.share(accounts, self.profile.base_url.rstrip("/"))


def derive_comment_fields(ticket: Ticket, comments: Iterable[Comment]) -> Ticket:
    """Fill the comment-derived rule fields from the ticket's comments (RULES.md meanings).

    The description counts as the customer's first comment; internal notes are not replies;
    the worker's own comments never count as agent activity.
    """
    ordered = sorted(comments, key=lambda c: (c.created_at, c.id))
    customer = [c for c in ordered if c.author_role == "customer" and c.public]
    agent_public = [c for c in ordered if c.author_role == "agent" and c.public]
    agent_any = [c for c in ordered if c.author_role == "agent"]
    customer_texts = [c.body for c in customer] or (
        [ticket.description] if ticket.description else []
    )
    return dataclasses.replace(
        ticket,
        comments=tuple(ordered),
        comments_loaded=True,
        unknown=ticket.unknown - COMMENT_FIELDS,
        latest_customer_comment=customer_texts[-1] if customer_texts else "",
        customer_comments="\n\n".join(customer_texts),
        customer_replies=max(len(customer) - 1, 0),
        agent_replies=len(agent_public),
        first_agent_reply_at=agent_public[0].created_at if agent_public else None,
        last_agent_reply_at=agent_public[-1].created_at if agent_public else None,
        last_customer_reply_at=customer[-1].created_at if len(customer) > 1 else None,
        last_agent_comment=agent_any[-1].body if agent_any else None,
    )
