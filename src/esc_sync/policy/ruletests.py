"""Rule tests (RULES.md "Rule tests"): a ticket, a frozen clock, the expected decision.

A case file is `rules/tests/*.toml` holding `[[cases]]`, each with `name`, `now`, `ticket`
(fields of the ticket model), optional `history` (`fired`: rules already fired this episode;
`surge`: per surge rule, the `created_at` of the other matching tickets) and `expect`
(`rules`, `tier` ("none": stays where it is), `tags`, `priority`, `deadlines` {respond_by,
resolve_by}, `tasks` [{title, due}] or a count, `reminders`: the instants of the ladder's
reminders for the tier entered, earliest first). Only what `expect` names is compared.

SLA targets: `history.entry` is the tier entry the ticket already sits in (`tier`,
`entered_at`, the `profile` and `priority` its deadlines were counted for, closed `pauses`
[[from, to], ...], a running `paused_since`, its `episode`), and `history.episode` the ticket's
episode now (a reopen starts a new one). `expect.profile` is the SLA profile chosen ("none"),
`expect.target` the targets that applied ("gold, t2 urgent: respond within 15m ..."), and
`expect.missed` the entry's deadlines already missed at `now` ([] for none); when the ticket
does not move, `expect.deadlines` are the entry's, counted again for a changed profile or
priority (time already spent paused kept).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from esc_sync.errors import PolicyError
from esc_sync.model import Deadlines, Decision, Organization, Person, Ticket
from esc_sync.policy.engine import EvalContext, Policy

_TICKET_FIELDS = {f.name for f in dataclasses.fields(Ticket)}
_TIMES = (
    "created_at",
    "updated_at",
    "first_agent_reply_at",
    "last_customer_reply_at",
    "last_agent_reply_at",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(_Strict):
    """What a case expects; only the keys given are compared."""

    rules: list[str] | None = None
    tier: str | None = None
    tags: list[str] | None = None
    priority: str | None = None
    deadlines: dict[str, datetime] | None = None
    tasks: list[dict[str, Any]] | int | None = None
    reminders: list[datetime] | None = None
    profile: str | None = None
    target: str | None = None
    missed: list[str] | None = None


class Entry(_Strict):
    """The tier entry a ticket already sits in, and what its deadlines were counted for."""

    tier: str
    entered_at: datetime
    profile: str | None = None
    priority: str | None = None
    pauses: list[tuple[datetime, datetime]] = []
    paused_since: datetime | None = None
    episode: int = 1


class History(_Strict):
    """What happened before the frozen moment."""

    fired: list[str] = []
    surge: dict[str, list[datetime]] = {}
    entry: Entry | None = None
    episode: int = 1


class Case(_Strict):
    """One rule test."""

    name: str
    now: datetime
    ticket: dict[str, Any]
    history: History = History()
    expect: Expect


@dataclass
class CaseResult:
    """The outcome of one case, with a readable diff when it failed."""

    file: str
    name: str
    diff: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the decision matched every expectation."""
        return not self.diff


def build_ticket(fields: dict[str, Any], now: datetime) -> Ticket:
    """A ticket from a case's `ticket` table (nested requester / organization tables)."""
    values = dict(fields)
    unknown = sorted(set(values) - _TICKET_FIELDS)
    if unknown:
        raise ValueError(f"unknown ticket field(s): {', '.join(unknown)}")
    for name in _TIMES:
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    if isinstance(values.get("requester"), dict):
        values["requester"] = Person(**_tuples(values["requester"]))
    if isinstance(values.get("organization"), dict):
        values["organization"] = Organization(**_tuples(values["organization"]))
    if "tags" in values:
        values["tags"] = tuple(values["tags"])
    values.setdefault("id", 1)
    values.setdefault("updated_at", now)
    return Ticket(**values)


def _tuples(table: dict[str, Any]) -> dict[str, Any]:
    """Lists in a nested table as tuples (the model's frozen people use tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def check_case(policy: Policy, case: Case) -> list[str]:
    """Evaluate one case; the lines of its diff (empty when it passes)."""
    ticket = build_ticket(case.ticket, case.now)
    surge = {
        rule: sorted([*times, ticket.created_at])
        for rule, times in case.history.surge.items()
        if ticket.created_at is not None
    }
    ctx = EvalContext(fired=frozenset(case.history.fired), surge_times=surge)
    decision = policy.evaluate(ticket, case.now, ctx)
    entry = entry_deadlines(policy, case.history, ticket, decision, case.now)
    if decision.deadlines is None and entry is not None:
        decision.deadlines = entry  # the ticket stays: its entry's deadlines are the ones shown
    diff = _compare(case.expect, decision)
    diff += _compare_targets(policy, case, ticket, decision, entry)
    if case.expect.reminders is not None:
        want = case.expect.reminders
        zone = want[0].tzinfo if want else None
        have = [at.astimezone(zone).isoformat() for at in reminders(policy, decision, case.now)]
        if [w.isoformat() for w in want] != have:
            diff.append(f"reminders: expected {[w.isoformat() for w in want]!r}, got {have!r}")
    return diff


def entry_deadlines(
    policy: Policy, history: History, ticket: Ticket, decision: Decision, now: datetime
) -> Deadlines | None:
    """The deadlines of the entry a case's ticket sits in, as the worker keeps them: counted
    from the entry, pushed out by closed pauses, counted again when the ticket's profile or
    priority (a raise by this decision included) gives the tier other targets. None when
    there is no entry or it belongs to an earlier episode (the ticket was reopened since)."""
    entry = history.entry
    if entry is None or entry.episode != history.episode:
        return None
    old = (entry.profile, entry.priority)
    found = policy.deadlines(entry.tier, entry.entered_at, *old)
    resolve = found.resolve_by
    for start, end in entry.pauses:
        resolve = policy.resume(entry.tier, resolve, start, end, entry.profile)
    new = (policy.profile_for(ticket, now), decision.priority or ticket.priority)
    if new != old:
        return policy.retarget(entry.tier, entry.entered_at, resolve, old, new, None, now)
    return Deadlines(found.respond_by, resolve, found.target)


def _compare_targets(
    policy: Policy, case: Case, ticket: Ticket, decision: Decision, entry: Deadlines | None
) -> list[str]:
    """The SLA expectations: the profile chosen, the targets applied, the deadlines missed."""
    expect, diff = case.expect, []
    if "profile" in expect.model_fields_set:
        want = None if expect.profile in (None, "none") else expect.profile
        have = policy.profile_for(ticket, case.now)
        if want != have:
            diff.append(f"profile: expected {want!r}, got {have!r}")
    if expect.target is not None:
        target = decision.deadlines.target if decision.deadlines else None
        have_text = target.describe() if target else None
        if expect.target != have_text:
            diff.append(f"target: expected {expect.target!r}, got {have_text!r}")
    if expect.missed is not None:
        paused = case.history.entry is not None and case.history.entry.paused_since is not None
        missed = []
        if entry is not None and entry.respond_by <= case.now:
            missed.append("response")
        if entry is not None and entry.resolve_by <= case.now and not paused:
            missed.append("resolution")
        if missed != expect.missed:
            diff.append(f"missed: expected {expect.missed!r}, got {missed!r}")
    return diff


def reminders(policy: Policy, decision: Decision, now: datetime) -> list[datetime]:
    """When the ladder's reminders for the tier a decision enters fall, earliest first."""
    if decision.target_tier is None or decision.deadlines is None:
        return []
    found = []
    target = decision.deadlines.target
    profile = target.profile if target is not None else None
    for due in (decision.deadlines.respond_by, decision.deadlines.resolve_by):
        for lead in policy.ladder.remind_before:
            at = policy.reminder_at(decision.target_tier, now, due, lead, profile)
            if at is not None:
                found.append(at)
    return sorted(found)


def _compare(expect: Expect, got: Decision) -> list[str]:
    """`field: expected X, got Y` for every expectation the decision misses."""
    diff: list[str] = []

    def differ(name: str, want: Any, have: Any) -> None:
        """Record a mismatch."""
        if want != have:
            diff.append(f"{name}: expected {want!r}, got {have!r}")

    if expect.rules is not None:
        differ("rules", expect.rules, [m.rule for m in got.matches])
    if "tier" in expect.model_fields_set:
        differ("tier", None if expect.tier in (None, "none") else expect.tier, got.target_tier)
    if expect.tags is not None:
        differ("tags", expect.tags, got.tags)
    if "priority" in expect.model_fields_set:
        differ("priority", expect.priority, got.priority)
    if expect.deadlines is not None:
        have = got.deadlines
        for key, want in expect.deadlines.items():
            seen = getattr(have, key, None) if have else None
            shown = seen.astimezone(want.tzinfo).isoformat() if seen else None
            differ(f"deadlines.{key}", want.isoformat(), shown)
    if isinstance(expect.tasks, int):
        differ("tasks", expect.tasks, len(got.tasks))
    elif expect.tasks is not None:
        for i, want_task in enumerate(expect.tasks):
            if i >= len(got.tasks):
                diff.append(f"tasks[{i}]: expected {want_task!r}, got nothing")
                continue
            task = got.tasks[i]
            if "title" in want_task:
                differ(f"tasks[{i}].title", want_task["title"], task.title)
            if "due" in want_task:
                due = datetime.fromisoformat(str(want_task["due"]))
                differ(
                    f"tasks[{i}].due",
                    due.isoformat(),
                    task.due.astimezone(due.tzinfo).isoformat() if task.due else None,
                )
    return diff


def load_cases(path: Path) -> list[tuple[Path, Case]]:
    """Every case under `<policy>/tests/*.toml`; PolicyError naming file and case when bad."""
    folder = (path if path.is_dir() else path.parent) / "tests"
    problems: list[str] = []
    cases: list[tuple[Path, Case]] = []
    for file in sorted(folder.glob("*.toml")):
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{file}: malformed TOML: {exc}")
            continue
        for i, item in enumerate(raw.get("cases", [])):
            label = f'case "{item.get("name", i)}"' if isinstance(item, dict) else f"case {i}"
            try:
                case = Case.model_validate(item)
                build_ticket(case.ticket, case.now)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    problems.append(f"{file}: {label}: {loc}: {err['msg']}")
                continue
            except (TypeError, ValueError) as exc:
                problems.append(f"{file}: {label}: ticket: {exc}")
                continue
            if case.now.tzinfo is None:
                problems.append(f"{file}: {label}: now: needs a UTC offset")
                continue
            cases.append((file, case))
    if problems:
        raise PolicyError(problems)
    return cases


def run_rule_tests(policy: Policy, path: Path) -> list[CaseResult]:
    """Run every case of the policy at `path` against `policy`."""
    return [
        CaseResult(str(file), case.name, check_case(policy, case))
        for file, case in load_cases(Path(path))
    ]
