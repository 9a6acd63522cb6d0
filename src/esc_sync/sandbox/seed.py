"""Build the deterministic seed from `seed_data` and say what the default rules should do to it.

Ticket ids follow creation time (oldest first), as in Zendesk. The `seed` number varies only
details no default rule looks at (assignees, channels, a few seconds of creation time), so the
expectations depend on `tickets` alone.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from esc_sync.sandbox.seed_data import (
    CUSTOMERS,
    EXTRA_FIRST,
    EXTRA_LAST,
    GROUPS,
    ORGANIZATIONS,
    PLAIN,
    SCENARIOS,
    STAFF,
    Spec,
)
from esc_sync.sandbox.store import (
    Clock,
    Comment,
    Group,
    Organization,
    Store,
    Ticket,
    User,
    seconds,
    to_us,
)
from esc_sync.sandbox.writes import html_of

CUSTOM_FIELD_IDS = (360010001, 360010002, 360010003, 360010010)
REFUND_FIELD = 360010010
RULE_TARGETS = {
    "manager-request": "t2",
    "legal-threat": "t3",
    "vip-high-priority": "t2",
    "repeat-issue": "t2",
    "urgent-no-reply": "t2",
    "outage-surge": "t3",
    "bad-satisfaction": "t2",
    "financial-impact": "t2",
    "needs-approval": "t2",
}
TIERS = ("t1", "t2", "t3", "t4")
NOTE_WORDS = (
    "Checked the account history and the recent invoices; nothing unusual so far.",
    "Asked the customer's admin for the workspace id and a screenshot of the error.",
    "Reproduced on staging with the same browser; attaching the console log to the ticket.",
    "Spoke to billing: the charge is pending and should settle within two business days.",
)
BASE_TICKETS = len(SCENARIOS) + len(PLAIN)
_AGO = re.compile(r"^(\d+)([mhd])$")


def ago(text: str) -> timedelta:
    """A `65m` / `5h` / `3d` duration."""
    found = _AGO.match(text)
    if found is None:
        raise ValueError(f"bad duration {text!r}")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
    return timedelta(**{unit: int(found.group(1))})


@dataclass(frozen=True, slots=True)
class Density:
    """How busy a seeded ticket is: at least `comments` comments (the scenario's thread padded
    with agents' internal notes of about `length` characters, which no default rule reads), and
    `updates` field changes without a comment (status, assignee, ...) besides the last change.

    Notes never change a rule's outcome: they are not replies, not customer text, and they are
    placed before the thread's last comment, so `updated_at` stays where the scenario put it.
    """

    comments: int = 4
    updates: int = 0
    length: int = 240


@dataclass(frozen=True, slots=True)
class Planned:
    """A scenario with its ticket id and requester key."""

    ticket_id: int
    spec: Spec


def plan(tickets: int = 64) -> list[Planned]:
    """Every seeded ticket in id order: the base scenarios plus repeated plain decoys."""
    specs = list(SCENARIOS) + list(PLAIN)
    for i in range(max(0, tickets - BASE_TICKETS)):
        pattern = PLAIN[i % len(PLAIN)]
        age = ago(pattern.ago) + timedelta(hours=3 * (i // len(PLAIN) + 1), minutes=i % 60)
        if ago(pattern.ago) < timedelta(days=27):  # stay clear of the 30-day repeat window
            age = min(age, timedelta(days=26))
        minutes = int(age.total_seconds() // 60)
        specs.append(replace(pattern, requester=f"extra{i}", ago=f"{minutes}m"))
    order = sorted(range(len(specs)), key=lambda i: (-ago(specs[i].ago), i))
    return [Planned(n + 1, specs[i]) for n, i in enumerate(order)]


def expected_tier(spec: Spec) -> str | None:
    """The tier the rules should move the ticket to, or None when it stays."""
    if not spec.rules:
        return None
    target = max((RULE_TARGETS[r] for r in spec.rules), key=TIERS.index)
    return target if TIERS.index(target) > TIERS.index(spec.group) else None


def expectations(tickets: int = 64, seed: int = 7) -> dict[int, dict[str, Any]]:
    """{ticket id: {"rules": [...], "tier": "t2" | "t3" | None}} for the seed (any `seed`)."""
    del seed  # the seed number never changes which rules match
    order = list(RULE_TARGETS)
    return {
        p.ticket_id: {
            "rules": sorted(p.spec.rules, key=order.index),
            "tier": expected_tier(p.spec),
        }
        for p in plan(tickets)
    }


def _email(name: str, domain: str) -> str:
    """first.last@domain from a display name."""
    parts = re.sub(r"[^a-z ]", "", name.lower()).split()
    return f"{'.'.join(parts)}@{domain}"


def _people(store: Store, now: datetime, tickets: int) -> dict[str, User]:
    """Groups, organizations, staff and customers; returns users by scenario key."""
    for gid, name, description in GROUPS.values():
        store.groups[gid] = Group(gid, name, description, now - timedelta(days=900))
    for oid, name, tags, domain in ORGANIZATIONS.values():
        org = Organization(oid, name, now - timedelta(days=500), list(tags), [domain])
        store.organizations[oid] = org
    people: dict[str, User] = {}
    for key, (uid, name, email, role, group) in STAFF.items():
        default_group = GROUPS[group][0] if group else None
        people[key] = User(
            uid, name, email, role, now - timedelta(days=700), None, [], default_group
        )
    for n, (key, (name, org_key, tags)) in enumerate(CUSTOMERS.items()):
        org_id, domain = (None, "mail.example")
        if org_key:
            org_id, domain = ORGANIZATIONS[org_key][0], ORGANIZATIONS[org_key][3]
        created = now - timedelta(days=90 + 7 * n)
        email = _email(name, domain)
        people[key] = User(381000000101 + n, name, email, "end-user", created, org_id, list(tags))
    for i in range(max(0, tickets - BASE_TICKETS)):
        first = EXTRA_FIRST[i % len(EXTRA_FIRST)]
        name = f"{first} {EXTRA_LAST[(i // len(EXTRA_FIRST)) % len(EXTRA_LAST)]}"
        email = _email(name, "mail.example").replace("@", f"{i}@")
        people[f"extra{i}"] = User(
            381000100001 + i, name, email, "end-user", now - timedelta(days=120)
        )
    for user in people.values():
        store.users[user.id] = user
    store.bot_id = people["bot"].id
    store.default_agent_id = people["priya"].id
    return people


def _team(people: dict[str, User], group: str) -> list[int]:
    """Agent ids of a tier's group."""
    gid = GROUPS[group][0]
    return [u.id for key, u in people.items() if u.default_group_id == gid and u.role == "agent"]


def _ticket(
    store: Store,
    planned: Planned,
    people: dict[str, User],
    now: datetime,
    rng: random.Random,
    teams: dict[str, list[int]],
    density: Density,
) -> Ticket:
    """One seeded ticket with its comment thread and metric counters."""
    spec, tid = planned.spec, planned.ticket_id
    requester = people[spec.requester]
    created = seconds(now - ago(spec.ago) - timedelta(seconds=rng.randrange(60)))
    team = teams[spec.group]
    assignee = None if spec.status == "new" else rng.choice(team)
    channel = rng.choice(("email", "web"))
    spread = min((now - created) * 0.8, timedelta(days=3))
    comments: list[Comment] = []
    for pad, (who, text), at in _padded(spec.thread, density, created, spread, tid):
        # a note's author is picked without the rng, so padding leaves every other detail as is
        fallback = team[tid % len(team)] if pad else None
        author = requester.id if who == "c" else (assignee or fallback or rng.choice(team))
        cid, aid = store.comment_id(), store.audit_id()
        via = channel if who == "c" else "web"
        comments.append(Comment(cid, author, text, html_of(text), who != "n", at, aid, via))
    updated = comments[-1].created_at
    solved_at = None
    if spec.status in ("solved", "closed"):
        solved_at = updated = seconds(updated + min(timedelta(hours=2), (now - updated) / 2))
    custom: dict[int, Any] = {fid: None for fid in CUSTOM_FIELD_IDS}
    custom[REFUND_FIELD] = spec.refund
    rating = None
    if spec.rating is not None:
        rating = {
            "id": 360200000000 + tid,
            "score": spec.rating[0],
            "comment": spec.rating[1] or None,
        }
    assigned = seconds(created + timedelta(minutes=5)) if assignee else None
    return Ticket(
        id=tid,
        subject=spec.subject,
        status=spec.status,
        priority=spec.priority,
        type=spec.type,
        requester_id=requester.id,
        submitter_id=requester.id,
        assignee_id=assignee,
        organization_id=requester.organization_id,
        group_id=GROUPS[spec.group][0],
        tags=list(spec.tags),
        custom=custom,
        created_at=created,
        updated_at=updated,
        gen_us=to_us(updated),
        channel=channel,
        satisfaction=rating,
        comments=comments,
        reopens=spec.reopens,
        solved_at=solved_at,
        status_updated_at=updated,
        initially_assigned_at=assigned,
        assigned_at=assigned,
        group_stations=1 + TIERS.index(spec.group),
        assignee_stations=1 if assignee else 0,
        updates=density.updates,
    )


def _padded(
    thread: tuple[tuple[str, str], ...],
    density: Density,
    created: datetime,
    spread: timedelta,
    tid: int,
) -> list[tuple[bool, tuple[str, str], datetime]]:
    """The thread with internal notes added after the description, each line with its time.

    The scenario's lines keep their times; the notes fall between the first line and the second
    (at the first line's second when the thread has one line), so the last comment is unchanged.
    """
    count = len(thread)
    times = [
        seconds(created + (spread * i / (count - 1) if count > 1 else timedelta(0)))
        for i in range(count)
    ]
    extra = max(0, density.comments - count)
    after = times[1] if count > 1 else times[0]
    out = [(False, thread[0], times[0])]
    for k in range(extra):
        text = _note(tid, k, density.length)
        at = seconds(times[0] + (after - times[0]) * (k + 1) / (extra + 1))
        out.append((True, ("n", text), at))
    out.extend((False, line, at) for line, at in zip(thread[1:], times[1:], strict=True))
    return out


def _note(tid: int, k: int, length: int) -> str:
    """An agent's internal note of about `length` characters (deterministic)."""
    words: list[str] = []
    i = tid + k
    while sum(len(w) + 1 for w in words) < length:
        words.append(NOTE_WORDS[i % len(NOTE_WORDS)])
        i += 1
    return " ".join(words)[: max(length, 1)]


def build(
    store: Store, *, tickets: int = 64, seed: int = 7, density: Density | None = None
) -> dict[int, dict[str, Any]]:
    """Fill `store` with the seed (at least the base scenarios); returns the expectations."""
    density = density or Density()
    with store.lock:
        now = seconds(store.now())
        rng = random.Random(seed)
        people = _people(store, now, tickets)
        teams = {group: _team(people, group) for group in GROUPS}
        for planned in plan(tickets):
            store.seeded(_ticket(store, planned, people, now, rng, teams, density))
    return expectations(tickets, seed)


def seeded_store(
    *, tickets: int = 64, seed: int = 7, now: datetime | None = None, density: Density | None = None
) -> Store:
    """A seeded store without a server (for tests and `rules explain` experiments)."""
    store = Store(Clock(now))
    build(store, tickets=tickets, seed=seed, density=density)
    return store
