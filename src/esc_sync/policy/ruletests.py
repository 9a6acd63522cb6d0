"""Rule tests (RULES.md "Rule tests"): a ticket, a frozen clock, the expected decision.

A case file is `rules/tests/*.toml` holding `[[cases]]`, each with `name`, `now`, `ticket`
(fields of the ticket model), optional `history` (`fired`: rules already fired this episode;
`surge`: per surge rule, the `created_at` of the other matching tickets) and `expect`
(`rules`, `tier` ("none": stays where it is), `tags`, `priority`, `deadlines` {respond_by,
resolve_by}, `tasks` [{title, due}] or a count, `reminders`: the instants of the ladder's
reminders for the tier entered, earliest first). Only what `expect` names is compared.
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
from esc_sync.model import Decision, Organization, Person, Ticket
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


class History(_Strict):
    """What happened before the frozen moment."""

    fired: list[str] = []
    surge: dict[str, list[datetime]] = {}


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
    diff = _compare(case.expect, decision)
    if case.expect.reminders is not None:
        want = case.expect.reminders
        zone = want[0].tzinfo if want else None
        have = [at.astimezone(zone).isoformat() for at in reminders(policy, decision, case.now)]
        if [w.isoformat() for w in want] != have:
            diff.append(f"reminders: expected {[w.isoformat() for w in want]!r}, got {have!r}")
    return diff


def reminders(policy: Policy, decision: Decision, now: datetime) -> list[datetime]:
    """When the ladder's reminders for the tier a decision enters fall, earliest first."""
    if decision.target_tier is None or decision.deadlines is None:
        return []
    found = []
    for due in (decision.deadlines.respond_by, decision.deadlines.resolve_by):
        for lead in policy.ladder.remind_before:
            at = policy.reminder_at(decision.target_tier, now, due, lead)
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
