"""The shared vocabulary: tickets as every connector normalises them, decisions, plans.

Nothing here knows a vendor or does I/O. Connectors produce `Ticket`s, the engine turns a
`Ticket` into a `Decision`, the planner turns a `Decision` into a `Plan`, connectors apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Normalised vocabularies (RULES.md "Fields").
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
SATISFACTION = ("good", "bad", "none")
CLOSED_STATUSES = frozenset({"solved", "closed"})

Status = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]

# Every marker and task external id the worker writes starts with this.
MARKER_PREFIX = "esc-sync:"


def priority_rank(priority: str | None) -> int:
    """Order of a priority (-1 for none), so priorities are only ever raised."""
    return PRIORITIES.index(priority) if priority in PRIORITIES else -1


@dataclass(frozen=True, slots=True)
class Person:
    """A requester as rules see it."""

    id: int | None = None
    name: str | None = None
    email: str | None = None
    tags: tuple[str, ...] = ()
    tickets_30d: int | None = None  # filled by the worker from the mirror
    tickets_90d: int | None = None


@dataclass(frozen=True, slots=True)
class Organization:
    """The requester's organization."""

    id: int | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment on a ticket, with who wrote it in helpdesk terms."""

    id: int
    author_id: int | None
    body: str
    public: bool
    created_at: datetime
    author_role: Literal["customer", "agent", "worker"] = "customer"


@dataclass(slots=True)
class Ticket:
    """A ticket normalised into the connector-independent model (RULES.md "Fields").

    Fields that could not be known without an extra API call are `None` and treated as unknown
    by the engine (e.g. comment text when comments were not fetched). `comments_loaded` says
    whether comment-derived fields are authoritative.
    """

    id: int
    subject: str = ""
    description: str = ""
    status: str = "open"
    priority: str | None = None
    type: str | None = None
    channel: str | None = None
    tags: tuple[str, ...] = ()
    group: int | str | None = None  # the helpdesk's group id
    assignee: int | str | None = None
    tier: str | None = None  # derived from group through the profile's [groups]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    first_agent_reply_at: datetime | None = None
    last_customer_reply_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    agent_replies: int | None = None
    customer_replies: int | None = None
    reopens: int | None = None
    latest_customer_comment: str | None = None
    customer_comments: str | None = None
    requester: Person = field(default_factory=Person)
    organization: Organization = field(default_factory=Organization)
    satisfaction: str = "none"
    custom: dict[str, Any] = field(default_factory=dict)
    # Not rule fields: what the connector and planner need.
    comments: tuple[Comment, ...] = ()
    comments_loaded: bool = False
    version: str | None = None  # optimistic-concurrency stamp (Zendesk: updated_at as read)
    external_id: str | None = None
    is_worker_task: bool = False  # a follow-up task the worker itself created
    last_agent_comment: str | None = None  # text of the latest agent comment (briefing history)
    # When the helpdesk says the newest comment was added (Zendesk: the metric set's
    # `latest_comment_added_at`, trusted only when the metric set is as new as the ticket).
    latest_comment_at: datetime | None = None
    # The comment fields describe every comment up to this instant (set by the worker when it
    # read them, kept in the mirror): a later version whose newest comment is no newer has the
    # same comment fields, so they are carried over instead of read again.
    comments_through: datetime | None = None
    # Rule fields the connector could not know without another call (comment text, say).
    # The engine treats them as unknown (three-valued), so it can ask for them only when needed.
    unknown: frozenset[str] = frozenset()
    # Rule fields this connector cannot supply at all (no API call would tell), each with why.
    # They are also in `unknown`, so a rule reading one is unknown, never false on an empty
    # value; unlike the rest of `unknown`, reading the comments does not fill them in.
    unsupplied: dict[str, str] = field(default_factory=dict)
    # True when the connector cannot count reopens: the worker counts them from its episodes.
    count_reopens: bool = False

    def mark_unsupplied(self, reasons: dict[str, str]) -> None:
        """Record fields this connector cannot supply (unknown to rules, with the reason)."""
        if reasons:
            self.unsupplied = {**self.unsupplied, **reasons}
            self.unknown = self.unknown | frozenset(reasons)

    def markers(self) -> set[str]:
        """Every worker marker found in this ticket's comments."""
        found: set[str] = set()
        for comment in self.comments:
            for token in comment.body.split():
                if token.startswith(MARKER_PREFIX):
                    found.add(token.strip("`()[],."))
        return found


@dataclass(frozen=True, slots=True)
class Evidence:
    """One condition of a matched rule and the value that satisfied it."""

    field: str
    op: str
    expected: Any
    seen: Any


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched, with the evidence for the audit log and the briefing."""

    rule: str
    name: str
    escalate_to: str | None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetChoice:
    """Which targets a tier entry's deadlines come from (RULES.md "Targets by priority and by
    customer"): the SLA profile and priority they were chosen for, each target and its source."""

    tier: str
    profile: str | None  # the SLA profile that matched, None for none
    priority: str | None  # the ticket's priority, a raise by the escalation included
    respond_within: str
    resolve_within: str
    respond_from: str  # "profile", "priority" or "tier": where respond_within came from
    resolve_from: str
    calendar: str | None = None  # the calendar the deadlines count on (None: calendar time)

    def describe(self) -> str:
        """One line for notes and explanations: "gold, t2 urgent: respond within 15m, ..."."""
        head = f"{self.profile or 'no profile'}, {self.tier} {self.priority or 'no priority'}"
        respond = f"respond within {self.respond_within}{_source(self, self.respond_from)}"
        resolve = f"resolve within {self.resolve_within}{_source(self, self.resolve_from)}"
        clock = f" on the {self.calendar} calendar" if self.calendar else " in calendar time"
        return f"{head}: {respond}, {resolve}{clock}"

    def short(self) -> str:
        """A table cell: "gold urgent 15m/2h"."""
        who = f"{self.profile} " if self.profile else ""
        return f"{who}{self.priority or '-'} {self.respond_within}/{self.resolve_within}"

    def basis(self) -> dict[str, str | None]:
        """What the choice depends on, as the ledger keeps it with a tier entry."""
        return {"profile": self.profile, "priority": self.priority}


def _source(choice: TargetChoice, source: str) -> str:
    """Where a target came from, in words ("" for the tier's default)."""
    if source == "profile":
        return f" ({choice.profile} target)"
    if source == "priority":
        return f" ({choice.tier} {choice.priority} target)"
    return " (tier default)"


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Response and resolution deadlines of a tier entry (and the targets they come from)."""

    respond_by: datetime
    resolve_by: datetime
    target: TargetChoice | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One playbook step to create as a follow-up task."""

    playbook: str
    step: int  # 1-based position in the playbook
    title: str
    after: str  # escalated | resolved | previous
    due: datetime | None  # None until the anchor is known (resolved steps)


@dataclass(slots=True)
class Decision:
    """What the policy wants for a ticket at `now`: the union of every matched rule."""

    ticket_id: int
    now: datetime
    matches: list[Match] = field(default_factory=list)  # rules matched and not yet fired
    already_fired: list[str] = field(default_factory=list)  # matched, but fired this episode
    current_tier: str | None = None
    target_tier: str | None = None  # set only when it is above the current tier
    tags: list[str] = field(default_factory=list)
    priority: str | None = None
    status: str | None = None
    note_template: str | None = None
    customer_template: str | None = None
    playbooks: list[str] = field(default_factory=list)
    deadlines: Deadlines | None = None
    tasks: list[TaskSpec] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """True when at least one rule matched."""
        return bool(self.matches)


@dataclass(frozen=True, slots=True)
class TaskCreate:
    """A follow-up task to create, recognisable on re-run by its external id."""

    external_id: str
    title: str
    body: str
    due_at: datetime | None
    group: int | str | None
    parent_ticket: int


@dataclass(slots=True)
class TicketUpdate:
    """Everything written to one ticket in a single request, so it lands whole or not at all."""

    ticket_id: int
    version: str | None
    tags: tuple[str, ...] | None = None  # the full list to set (already merged)
    group: int | str | None = None
    priority: str | None = None
    status: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)  # profile field name -> value
    note: str | None = None  # internal note body, carrying the markers
    customer_message: str | None = None  # public reply

    def is_empty(self) -> bool:
        """True when the update would change nothing."""
        return (
            self.tags is None
            and self.group is None
            and self.priority is None
            and self.status is None
            and not self.custom_fields
            and self.note is None
            and self.customer_message is None
        )


@dataclass(slots=True)
class Plan:
    """The writes still missing for one ticket (empty when everything is already there)."""

    ticket_id: int
    episode: int
    markers: list[str] = field(default_factory=list)
    update: TicketUpdate | None = None
    tasks: list[TaskCreate] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when nothing needs to be written."""
        return (self.update is None or self.update.is_empty()) and not self.tasks


# Fields derived from comments: unknown until the comments are loaded, unless the connector
# found them elsewhere (Zendesk metric sets give reply counts and the first reply time).
COMMENT_FIELDS = frozenset(
    {
        "latest_customer_comment",
        "customer_comments",
        "agent_replies",
        "customer_replies",
        "first_agent_reply_at",
        "last_agent_reply_at",
        "last_customer_reply_at",
    }
)


# -- what the state store records, as the planner reads it -------------------------------------

Intent = tuple[str, dict[str, Any]]  # a ledger key and its detail


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One recorded effect (or the intent to make it)."""

    connector: str
    ticket_id: int
    episode: int
    key: str
    state: str
    detail: dict[str, Any]


@dataclass(slots=True)
class TierEntry:
    """A tier the worker moved a ticket into, with its deadlines and what happened since."""

    connector: str
    ticket_id: int
    episode: int
    tier: str
    entered_at: datetime
    respond_by: datetime
    resolve_by: datetime
    responded_at: datetime | None = None
    paused_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class TierMove:
    """Entering a tier: when, and the deadlines it sets."""

    tier: str
    at: datetime
    respond_by: datetime
    resolve_by: datetime


# -- notifications to people outside the helpdesk (RULES.md "Notifications") -------------------

NOTIFY_EVENTS = ("escalated", "reminder", "missed", "repeat")


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one channel about one event of a ticket, with its ledger key.

    The key (with the ledger's connector, ticket and episode) names the tier, the channel,
    the event (a reminder's or a missed deadline's step included) and the repeat number, so
    each message is sent once. `url_env` names the variable holding the channel's address.
    """

    key: str
    channel: str
    url_env: str
    event: str
    tier: str
    repeat: int
    title: str
    body: str

    def detail(self) -> dict[str, Any]:
        """The ledger detail: enough to send the message again after a crash."""
        return {
            "notify": self.channel,
            "url_env": self.url_env,
            "event": self.event,
            "tier": self.tier,
            "repeat": self.repeat,
            "title": self.title,
            "body": self.body,
        }

    @classmethod
    def from_detail(cls, key: str, detail: dict[str, Any]) -> Notification:
        """The message a ledger intent describes."""
        return cls(
            key=key,
            channel=str(detail["notify"]),
            url_env=str(detail["url_env"]),
            event=str(detail["event"]),
            tier=str(detail["tier"]),
            repeat=int(detail.get("repeat", 0)),
            title=str(detail["title"]),
            body=str(detail["body"]),
        )


def notification_key(tier: str, channel: str, step: str, repeat: int = 0) -> str:
    """The ledger key of a message: `notify:<tier>:<channel>:<event step>:<repeat>`.

    The event step is `escalated`, `reminder-<deadline>-<offset>`, `missed-<deadline>` or
    `repeat`; the ledger row adds connector, ticket and episode."""
    return f"notify:{tier}:{channel}:{step}:{repeat}"
