"""Rule conditions compiled once into predicates, with three-valued (Kleene) logic.

A test on a field the ticket does not know yet (listed in `Ticket.unknown`) is unknown (None);
groups combine True/False/None the Kleene way, so the engine can tell "no" from "cannot tell
without the comments". Compiling also validates: every problem is collected as (path, message)
for the loader to prefix with the file and rule id.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from esc_sync.durations import parse_duration
from esc_sync.model import Evidence, Ticket
from esc_sync.policy import schema
from esc_sync.policy.calendar import BusinessCalendar
from esc_sync.policy.fields import CUSTOM_PREFIX, FieldDef, field_names, lookup
from esc_sync.policy.trace import Trace, trace

Tri = bool | None
Check = Callable[[Any, datetime], bool]


class Node(Protocol):
    """A compiled condition."""

    def test(self, ticket: Ticket, now: datetime) -> Tri:
        """True, False, or None when it depends on a field the ticket does not know."""
        ...

    def evidence(self, ticket: Ticket, now: datetime, out: list[Evidence]) -> None:
        """Append the tests that are true on this ticket (walked only for matched rules)."""
        ...


@dataclass(frozen=True, slots=True)
class Test:
    """One `{ field, op = value }` test."""

    field: str
    op: str
    expected: Any
    get: Callable[[Ticket], Any]
    unknown_keys: tuple[str, ...]
    check: Check
    seen: Callable[[Any], Any]
    clock: BusinessCalendar | None = None  # set on older_than/newer_than with business = true

    def test(self, ticket: Ticket, now: datetime) -> Tri:
        """Apply the test; None when the field is unknown on this ticket."""
        if ticket.unknown and any(key in ticket.unknown for key in self.unknown_keys):
            return None
        return self.check(self.get(ticket), now)

    def evidence(self, ticket: Ticket, now: datetime, out: list[Evidence]) -> None:
        """Record this test when it is true."""
        if self.test(ticket, now) is True:
            out.append(Evidence(self.field, self.op, self.expected, self.seen(self.get(ticket))))

    def trace(self, ticket: Ticket, now: datetime) -> Trace:
        """This test's result with the value it read (`(not loaded)` when the field is unknown)."""
        result = self.test(ticket, now)
        if result is None:
            why = next(
                (ticket.unsupplied[k] for k in self.unknown_keys if k in ticket.unsupplied), None
            )
            seen = "(not loaded)" if why is None else f"(unknown: {why})"
            return Trace("test", None, self.field, self.op, self.expected, seen)
        value = self.get(ticket)
        seen = self.seen(value) if self.op == "matches" and result else _plain(value)
        return Trace("test", result, self.field, self.op, self.expected, seen)


@dataclass(frozen=True, slots=True)
class Group:
    """`all`, `any` or `none` of some conditions, in Kleene logic."""

    kind: str
    children: tuple[Node, ...]

    def test(self, ticket: Ticket, now: datetime) -> Tri:
        """Combine the children: all = AND, any = OR, none = NOT OR."""
        unknown = False
        for child in self.children:
            result = child.test(ticket, now)
            if result is None:
                unknown = True
            elif result is (self.kind == "all"):
                continue
            elif self.kind == "all":
                return False
            else:
                return self.kind == "any"
        if unknown:
            return None
        return self.kind != "any"

    def evidence(self, ticket: Ticket, now: datetime, out: list[Evidence]) -> None:
        """Record the true tests under an all/any group (a none group holds only false ones)."""
        if self.kind == "none":
            return
        for child in self.children:
            if isinstance(child, Test):
                child.evidence(ticket, now, out)  # a test records itself only when true
            elif child.test(ticket, now) is True:
                child.evidence(ticket, now, out)

    def trace(self, ticket: Ticket, now: datetime) -> Trace:
        """This group's result with every child's trace (no short-circuit: all are shown)."""
        children = tuple(trace(child, ticket, now) for child in self.children)
        return Trace(self.kind, self.test(ticket, now), children=children)


def condition_keys(node: Any, parents: bool = True) -> frozenset[str]:
    """Every field a compiled condition reads (with their parents' names: `requester`)."""
    if isinstance(node, Test):
        return frozenset(node.unknown_keys) | {node.field} if parents else frozenset({node.field})
    if isinstance(node, Group):
        return frozenset().union(*(condition_keys(child, parents) for child in node.children))
    return frozenset()


@dataclass(frozen=True, slots=True)
class SurgeSpec:
    """A compiled surge: at least `at_least` matching tickets created within `within`."""

    at_least: int
    within: timedelta


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule with its condition compiled."""

    id: str
    name: str
    description: str | None
    enabled: bool
    condition: Node
    surge: SurgeSpec | None
    then: schema.Then
    source: Path | None = None


@dataclass
class Compiler:
    """Compiles rules and collects every problem as (path, message)."""

    tier_ids: Sequence[str] = ()
    custom_fields: Collection[str] | None = None
    has_calendar: bool = False
    business_clock: BusinessCalendar | None = None  # what `business = true` counts on
    problems: list[tuple[str, str]] = field(default_factory=list)

    def rule(self, rule: schema.Rule, source: Path | None = None) -> CompiledRule | None:
        """Compile one rule; None (with problems recorded) when it is not valid."""
        start = len(self.problems)
        condition = self.when(rule.when)
        surge = None
        if rule.surge is not None:
            surge = SurgeSpec(rule.surge.at_least, parse_duration(rule.surge.within))
        if condition is None or len(self.problems) > start:
            return None
        return CompiledRule(
            rule.id, rule.name, rule.description, rule.enabled, condition, surge, rule.then, source
        )

    def when(self, when: schema.When) -> Node | None:
        """Compile a rule's `when` sections into one all-group."""
        sections = [(kind, items) for kind, items in when.sections() if items is not None]
        if not any(items for _, items in sections):
            self.problems.append(
                ("when", "a rule needs at least one condition (when.all, when.any or when.none)")
            )
            return None
        nodes = [self.group(kind, items, f"when.{kind}") for kind, items in sections]
        if any(node is None for node in nodes):
            return None
        return Group("all", tuple(node for node in nodes if node is not None))

    def group(self, kind: str, items: list[schema.Condition], path: str) -> Node | None:
        """Compile a list of conditions into a group."""
        if not items:
            self.problems.append((path, "empty list: write a condition"))
            return None
        nodes = [self.condition(item, f"{path}[{i}]") for i, item in enumerate(items)]
        if any(node is None for node in nodes):
            return None
        return Group(kind, tuple(node for node in nodes if node is not None))

    def condition(self, cond: schema.Condition, path: str) -> Node | None:
        """Compile a test or a nested group."""
        groups = cond.groups()
        if groups:
            kind, items = groups[0]
            return self.group(kind, items, f"{path}.{kind}")
        return self.test(cond, path)

    def test(self, cond: schema.Condition, path: str) -> Node | None:
        """Compile one test, checking the field, the operator and the value."""
        assert cond.field is not None  # the schema guarantees a test has a field
        definition = self.field(cond.field, f"{path}.field")
        op = cond.operators()[0]
        if definition is None:
            return None
        if definition.name == "tier":
            definition = FieldDef("tier", "enum", definition.get, tuple(self.tier_ids), True)
        if op not in definition.operators():
            allowed = ", ".join(o for o in schema.OPERATORS if o in definition.operators())
            self.problems.append(
                (
                    f"{path}.{op}",
                    f'operator "{op}" does not apply to {definition.type} field '
                    f'"{definition.name}" (use one of: {allowed})',
                )
            )
            return None
        if not self.flags(cond, op, path):
            return None
        value = getattr(cond, schema._attr(op))
        built = _build(definition, op, value, f"{path}.{op}", self.problems)
        if built is None:
            return None
        check, seen = built
        clock = self.business_clock if cond.business else None
        if clock is not None and op in ("older_than", "newer_than"):
            check = _business_age(clock, value, older=op == "older_than")
        return Test(
            definition.name,
            op,
            value,
            definition.get,
            definition.unknown_keys(),
            check,
            seen,
            clock,
        )

    def field(self, name: str, path: str) -> FieldDef | None:
        """Look a field up, recording an unknown one with a suggestion."""
        definition = lookup(name, self.custom_fields)
        if definition is not None:
            return definition
        kind = "custom field" if name.startswith(CUSTOM_PREFIX) else "field"
        message = f'unknown {kind} "{name}"' + suggest(name, field_names(self.custom_fields))
        if name.startswith(CUSTOM_PREFIX) and self.custom_fields is not None:
            known = ", ".join(sorted(self.custom_fields)) or "none"
            message += f"; the connector profile's [fields] names: {known}"
        self.problems.append((path, message))
        return None

    def flags(self, cond: schema.Condition, op: str, path: str) -> bool:
        """Check `business` / `calendar` are used on a time test, with a calendar to count on."""
        ok = True
        for flag in ("business", "calendar"):
            if getattr(cond, flag) is not None and op not in ("older_than", "newer_than"):
                self.problems.append((f"{path}.{flag}", f"{flag} applies to older_than/newer_than"))
                ok = False
        if cond.business and cond.calendar:
            self.problems.append((f"{path}.business", "business and calendar are exclusive"))
            ok = False
        if cond.business and not self.has_calendar:
            self.problems.append(
                (f"{path}.business", "business time needs a calendar: define [calendars.<id>]")
            )
            ok = False
        return ok


def suggest(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str:
    """` (did you mean "x"?)` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _business_age(clock: BusinessCalendar, value: str, *, older: bool) -> Check:
    """older_than / newer_than counted in business time on a calendar."""
    span = clock.span(value)

    def aged(v: Any, now: datetime) -> bool:
        """Whether the business time since `v` is at least (older) or under (newer) the span."""
        when = _as_datetime(v)
        if when is None:
            return False
        age = clock.between(when, now)
        return age >= span if older else age < span

    return aged


def _build(
    definition: FieldDef, op: str, value: Any, path: str, problems: list[tuple[str, str]]
) -> tuple[Check, Callable[[Any], Any]] | None:
    """Validate the value for the field's type and build the predicate and the evidence view."""
    start = len(problems)

    def bad(message: str, where: str = path) -> None:
        """Record a problem with this value."""
        problems.append((where, message))

    kind = definition.type
    seen: Callable[[Any], Any] = _plain
    if op == "exists":
        return (lambda v, _now: _present(v) == value), _plain
    if op in ("older_than", "newer_than"):
        span = parse_duration(value)
        older = op == "older_than"

        def aged(v: Any, now: datetime) -> bool:
            """Whether the time is at least (older_than) or less than (newer_than) the span ago."""
            when = _as_datetime(v)
            if when is None:
                return False
            age = now - when
            return age >= span if older else age < span

        return aged, _plain
    if op == "matches":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            bad(f"bad regular expression {value!r}: {exc}")
            return None
        return _matcher(pattern, kind)
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            bad(f'"{op}" needs a list of values, e.g. {op} = ["open", "pending"]')
            return None
        items = [_scalar(definition, item, f"{path}[{i}]", bad) for i, item in enumerate(value)]
        if len(problems) > start:
            return None
        inside = op == "in"

        def member(v: Any, _now: datetime) -> bool:
            """Whether the value is (in) or is not (not_in) one of the listed values."""
            return v is not None and any(_same(v, x, kind) for x in items) == inside

        return member, seen
    if op == "contains":
        if not isinstance(value, str) and kind != "any":
            bad(f"expected text, got {value!r}")
            return None
        return _container(value, kind)
    if op in ("gt", "gte", "lt", "lte"):
        return _ordering(definition, op, value, bad)
    expected = _scalar(definition, value, path, bad)
    if len(problems) > start:
        return None
    equal = op == "eq"
    return (lambda v, _now: v is not None and _same(v, expected, kind) == equal), seen


def _scalar(definition: FieldDef, value: Any, path: str, bad: Callable[[str, str], None]) -> Any:
    """Check one eq/ne/in value against the field's type; return it normalised."""
    kind = definition.type
    if kind == "enum":
        if not isinstance(value, str) or value not in definition.values:
            bad(_unknown_value(definition.name, value, definition.values), path)
        return value
    if kind == "number" and (_number(value) is None or isinstance(value, str)):
        bad(f"expected a number, got {value!r}", path)
    elif kind == "text" and not isinstance(value, str):
        bad(f"expected text, got {value!r}", path)
    elif kind == "bool" and not isinstance(value, bool):
        bad(f"expected true or false, got {value!r}", path)
    elif kind in ("datetime", "text-list"):
        bad(f"a {kind} field cannot be compared with eq/ne/in", path)
    return value


def _unknown_value(noun: str, value: Any, known: Sequence[str]) -> str:
    """`unknown status "opne" (did you mean "open"?); use: new, open, ...`."""
    return f'unknown {noun} "{value}"{suggest(str(value), known)}; use: {", ".join(known)}'


def _ordering(
    definition: FieldDef, op: str, value: Any, bad: Callable[[str], None]
) -> tuple[Check, Callable[[Any], Any]] | None:
    """Build gt/gte/lt/lte for numbers, datetimes, ordered enums and custom values."""
    compare = _COMPARE[op]
    kind = definition.type
    if kind == "enum":
        rank = {name: i for i, name in enumerate(definition.values)}
        if value not in rank:
            bad(_unknown_value(definition.name, value, definition.values))
            return None
        return (lambda v, _now: v in rank and compare(rank[v], rank[value])), _plain
    if kind == "datetime":
        moment = _as_datetime(value)
        if moment is None:
            bad(f"expected an ISO-8601 date and time, got {value!r}")
            return None
        return (lambda v, _now: (d := _as_datetime(v)) is not None and compare(d, moment)), _plain
    limit = _number(value)
    if limit is None:
        bad(f"expected a number, got {value!r}")
        return None
    return (lambda v, _now: (n := _number(v)) is not None and compare(n, limit)), _plain


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: bool(a > b),
    "gte": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "lte": lambda a, b: bool(a <= b),
}


def _matcher(pattern: re.Pattern[str], kind: str) -> tuple[Check, Callable[[Any], Any]]:
    """`matches`: re.search on text, on any element of a list, or on a custom value's text."""

    def first(v: Any) -> str | None:
        """The first text the pattern finds in the value (or its elements)."""
        values = v if isinstance(v, list | tuple) else [v]
        for item in values:
            if item is not None and (found := pattern.search(str(item))):
                return found.group(0)
        return None

    return (lambda v, _now: v is not None and first(v) is not None), first


def _container(value: Any, kind: str) -> tuple[Check, Callable[[Any], Any]]:
    """`contains`: case-insensitive membership in a list, or substring of a text."""
    needle = str(value).casefold()

    def check(v: Any, _now: datetime) -> bool:
        """Whether a list holds the value or a text contains it."""
        if isinstance(v, list | tuple | set | frozenset):
            return any(str(item).casefold() == needle for item in v)
        return v is not None and needle in str(v).casefold()

    return check, _plain


def _same(value: Any, expected: Any, kind: str) -> bool:
    """Equality for the field's type: numbers as numbers (numeric strings too, for custom)."""
    if kind in ("number", "any"):
        a, b = _number(value), _number(expected)
        if a is not None and b is not None:
            return a == b
        if kind == "number":
            return False
        return str(value) == str(expected)
    return bool(value == expected)


def _number(value: Any) -> float | None:
    """A number from an int, float or numeric string ("750.00"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime or ISO-8601 text (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _present(value: Any) -> bool:
    """`exists`: not None, not empty text, not an empty collection."""
    if value is None:
        return False
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        return len(value) > 0
    return True


def _plain(value: Any) -> Any:
    """The value as evidence (tuples become lists for JSON and templates)."""
    return list(value) if isinstance(value, tuple) else value
