"""Rule conditions fused into one plain-boolean Python predicate per rule.

When a ticket has no unknown fields (`Ticket.unknown` empty), three-valued logic collapses to
two-valued: no test can be unknown, so a rule's whole condition is one boolean expression. This
module generates that expression once per rule (as Python source, compiled with `eval`), with
the cheap tests first inside each group (boolean `and` / `or` over pure tests commute) and the
common tests specialised (set membership for `in` on enums and text, a precompiled
`pattern.search` for `matches` on text, a direct comparison for `eq`). Anything else calls the
test's own compiled check, so the result is always the same as `Node.test(...) is True`.

Used by `Policy.evaluate` to skip rules that cannot match; evidence for the rules that do match
is still walked on the original (Kleene) nodes, in the order the rule was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from esc_sync.model import Ticket
from esc_sync.policy.compile import Group, Node, Test
from esc_sync.policy.fields import FIELDS

Fused = Callable[[Ticket, datetime], bool]

# Estimated cost of a test, by operator: enum/text membership first, regexes last.
_COST = {
    "eq": 1,
    "ne": 1,
    "in": 1,
    "not_in": 1,
    "exists": 1,
    "gt": 2,
    "gte": 2,
    "lt": 2,
    "lte": 2,
    "contains": 3,
    "older_than": 4,
    "newer_than": 4,
    "matches": 9,
}
_PLAIN_KINDS = ("enum", "text")
_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _Emitter:
    """Builds the source of one fused predicate and the constants it refers to."""

    def __init__(self) -> None:
        """An empty namespace."""
        self.names: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        """A name bound to `value` in the predicate's namespace."""
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def node(self, node: Node) -> str:
        """The boolean expression of a node."""
        if isinstance(node, Group):
            parts = [self.node(child) for child in sorted(node.children, key=cost)]
            if not parts:
                return "True" if node.kind != "any" else "False"
            if node.kind == "all":
                return "(" + " and ".join(parts) + ")"
            joined = "(" + " or ".join(parts) + ")"
            return joined if node.kind == "any" else f"(not {joined})"
        if isinstance(node, Test):
            return self.test(node)
        return f"({self.const(node.test)}(t, now) is True)"

    def test(self, test: Test) -> str:
        """The boolean expression of one test, specialised where that is exactly equivalent."""
        definition = FIELDS.get(test.field)
        kind = definition.type if definition is not None else "any"
        value = self.read(test)
        if kind in _PLAIN_KINDS and test.op in ("in", "not_in") and _all_str(test.expected):
            members = self.const(frozenset(test.expected))
            inside = "in" if test.op == "in" else "not in"
            return f"((_v := {value}) is not None and _v {inside} {members})"
        if kind in _PLAIN_KINDS and test.op in ("eq", "ne") and isinstance(test.expected, str):
            op = "==" if test.op == "eq" else "!="
            return f"((_v := {value}) is not None and _v {op} {self.const(test.expected)})"
        if kind == "number" and test.op in _ORDER and not isinstance(test.expected, bool | str):
            limit, check = self.const(float(test.expected)), self.const(test.check)
            return (
                f"(float(_v) {_ORDER[test.op]} {limit} if type(_v := {value}) is int "
                f"else {check}(_v, now))"
            )
        if kind == "text" and test.op == "matches" and isinstance(test.expected, str):
            search = self.const(_search(test))
            return f"((_v := {value}) is not None and {search}(str(_v)) is not None)"
        return f"{self.const(test.check)}({value}, now)"

    def read(self, test: Test) -> str:
        """The expression that reads the test's field from ticket `t`."""
        if test.field in FIELDS and "." not in test.field:
            return f"t.{test.field}"
        if test.field in FIELDS:
            parent, child = test.field.split(".", 1)
            return f"t.{parent}.{child}"
        return f"{self.const(test.get)}(t)"


def _search(test: Test) -> Callable[[str], Any]:
    """The precompiled `search` of a `matches` test's pattern, with a first-character guard.

    When every match must begin with one of a few known characters (`\\b(lawyer|suing)`),
    a lookahead on that class lets the regex engine skip most positions quickly; being a
    necessary condition at the same position and zero-width, it changes no match.
    """
    pattern = str(test.expected)
    flags = _LEADING_FLAGS.match(pattern)
    head = flags.group(0) if flags else ""
    try:
        first = _first_chars(re._parser.parse(pattern))  # type: ignore[attr-defined]
    except (re.error, AttributeError, TypeError):
        first = None
    if first:
        guarded = (
            f"{head}(?=[{''.join(re.escape(c) for c in sorted(first))}]){pattern[len(head) :]}"
        )
        try:
            return re.compile(guarded).search
        except re.error:
            pass
    return re.compile(pattern).search


_LEADING_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _first_chars(parsed: Any) -> set[str] | None:
    """The characters any match must start with, or None when that is not simply known."""
    for op, arg in parsed:
        name = str(op)
        if name == "AT":
            continue  # zero-width (\\b, ^): the match starts at the next item
        if name == "LITERAL":
            return {chr(arg)}
        if name == "SUBPATTERN":
            return _first_chars(arg[-1])
        if name == "BRANCH":
            found: set[str] = set()
            for branch in arg[1]:
                chars = _first_chars(branch)
                if not chars:
                    return None
                found |= chars
            return found
        return None
    return None


def _all_str(values: Any) -> bool:
    """Whether `values` is a list of strings (so membership is plain set membership)."""
    return isinstance(values, list | tuple) and all(isinstance(v, str) for v in values)


def cost(node: Node) -> int:
    """The estimated cost of evaluating a node: the sum of its tests' costs."""
    if isinstance(node, Group):
        return sum(cost(child) for child in node.children)
    if isinstance(node, Test):
        return _COST.get(node.op, 5)
    return 10


Matcher = Callable[[Ticket, datetime], list[int]]


def fuse_all(nodes: list[Node]) -> Matcher:
    """One function returning the positions of the nodes true on a ticket with no unknowns."""
    emitter = _Emitter()
    lines = ["def _matching(t, now):", "    hits = []"]
    for i, node in enumerate(nodes):
        lines += [f"    if {emitter.node(node)}:", f"        hits.append({i})"]
    lines.append("    return hits")
    exec("\n".join(lines), emitter.names)
    matcher: Matcher = emitter.names["_matching"]
    return matcher


def fuse(node: Node) -> Fused:
    """One predicate equal to `node.test(ticket, now) is True` for tickets with no unknowns."""
    emitter = _Emitter()
    source = emitter.node(node)
    predicate: Fused = eval(f"lambda t, now: {source}", emitter.names)
    return predicate
