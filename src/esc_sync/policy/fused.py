"""Rule conditions compiled into plain-boolean Python code, for tickets without unknown fields.

When a ticket has no unknown fields (`Ticket.unknown` empty), three-valued logic collapses to
two-valued: no test can be unknown, so a rule's whole condition is one boolean expression. This
module generates that code once per policy (Python source, compiled with `exec`):

- **one matcher per status**: the status is read once per ticket and picks a function in which
  every status test is already folded to a constant (a rule that cannot hold for that status
  is not in it at all; `status in [...]` costs nothing per rule). Other statuses (or odd values)
  use the general function, which tests the status like any other field;
- **cheap tests first** inside each group (boolean `and` / `or` over pure tests commute);
- **specialised tests**: set membership for `in` on enums and text, direct comparison for `eq`,
  inline number and age comparisons, a case-folded tag set built once per ticket and field
  (and only when a `contains` test reaches it), and for `matches` on text a literal prefilter:
  when every match of the regex must contain one of a few literals (`manager`, `lawyer`, ...)
  and the text is ASCII, plain substring tests on the lower-cased text rule most texts out
  before the (guarded, precompiled) regex runs. Anything else calls the test's own check, so
  the result is always the same as `Node.test(...) is True`;
- **evidence functions**: per rule, the same walk as `Node.evidence`, in the order the rule
  was written, on the same specialised tests; run only for the rules that matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from esc_sync.durations import parse_duration
from esc_sync.model import Evidence, Ticket
from esc_sync.policy.compile import Group, Node, Test
from esc_sync.policy.fields import CUSTOM_PREFIX, FIELDS

Fused = Callable[[Ticket, datetime], bool]
Matcher = Callable[[Ticket, datetime], list[int]]
Evidencer = Callable[[Ticket, datetime, list[Evidence]], None]

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
_NUMERIC_KINDS = ("number", "any")
_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# status tests that do not depend on `now`: folded to a constant per status
_FOLDABLE = frozenset({"eq", "ne", "in", "not_in", "exists"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNSET = object()


_LISTS = (list, tuple, set, frozenset)


def _folded(value: Any) -> frozenset[str] | None:
    """The case-folded items of a list value (what `contains` compares), None for a non-list."""
    if isinstance(value, _LISTS):
        return frozenset(map(str.casefold, map(str, value)))
    return None


class _Emitter:
    """Builds the source of fused code and the constants it refers to."""

    def __init__(self, status: str | None = None) -> None:
        """An empty namespace; `status`: fold status tests as if the ticket had this status."""
        self.names: dict[str, Any] = {
            "_UNSET": _UNSET,
            "_folded": _folded,
            "_datetime": datetime,
            "_E": Evidence,
        }
        self.status = status
        self.lazy: dict[str, str] = {}  # read expression -> local holding its folded set

    def const(self, value: Any) -> str:
        """A name bound to `value` in the namespace."""
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def prologue(self, indent: str) -> list[str]:
        """Lines initialising the per-call lazy locals used so far."""
        return [f"{indent}{local} = _UNSET" for local in self.lazy.values()]

    def node(self, node: Node) -> str:
        """The boolean expression of a node ("True"/"False" when it folds to a constant)."""
        if isinstance(node, Group):
            parts = [self.node(child) for child in sorted(node.children, key=cost)]
            if node.kind == "all":
                if "False" in parts:
                    return "False"
                parts = [p for p in parts if p != "True"]
                return "(" + " and ".join(parts) + ")" if parts else "True"
            if "True" in parts:
                joined = "True"
            else:
                parts = [p for p in parts if p != "False"]
                joined = "(" + " or ".join(parts) + ")" if parts else "False"
            if node.kind == "any":
                return joined
            return {"True": "False", "False": "True"}.get(joined, f"(not {joined})")
        if isinstance(node, Test):
            return self.test(node)
        return f"({self.const(node.test)}(t, now) is True)"

    def test(self, test: Test) -> str:
        """The boolean expression of one test, specialised where that is exactly equivalent."""
        definition = FIELDS.get(test.field)
        kind = definition.type if definition is not None else "any"
        if self.status is not None and test.field == "status" and test.op in _FOLDABLE:
            return "True" if test.check(self.status, _EPOCH) is True else "False"
        value = self.read(test)
        check = test.check
        if kind in _PLAIN_KINDS and test.op in ("in", "not_in") and _all_str(test.expected):
            members = self.const(frozenset(test.expected))
            if test.op == "in":  # None is in no set of text
                return f"({value} in {members})"
            return f"((_v := {value}) is not None and _v not in {members})"
        if kind in _PLAIN_KINDS and test.op in ("eq", "ne") and isinstance(test.expected, str):
            if test.op == "eq":  # None equals no text
                return f"({value} == {self.const(test.expected)})"
            return f"((_v := {value}) is not None and _v != {self.const(test.expected)})"
        if kind in _NUMERIC_KINDS and (test.op in _ORDER or test.op in ("eq", "ne")):
            limit = _number(test.expected)
            if limit is not None:
                op = _ORDER.get(test.op) or ("==" if test.op == "eq" else "!=")
                # ints and floats compare as floats (what the check does); None never holds;
                # anything else (numeric text, bools, ...) goes through the check itself
                return (
                    f"(float(_v) {op} {self.const(limit)} "
                    f"if (_ty := type(_v := {value})) is int or _ty is float "
                    f"else (_v is not None and {self.const(check)}(_v, now)))"
                )
        if kind == "text" and test.op == "matches" and isinstance(test.expected, str):
            return self.matches(test, value)
        if kind == "text-list" and test.op == "contains" and isinstance(test.expected, str):
            local = self.lazy.setdefault(value, f"_f{len(self.lazy)}")
            needle = self.const(str(test.expected).casefold())
            return (
                f"({needle} in _s if (_s := ({local} if {local} is not _UNSET "
                f"else ({local} := _folded({value})))) is not None "
                f"else {self.const(check)}({value}, now))"
            )
        if kind == "datetime" and test.op in ("older_than", "newer_than") and test.clock is None:
            span = _span(test)
            if span is not None:
                op = ">=" if test.op == "older_than" else "<"
                return (
                    f"(now - _v {op} {self.const(span)} "
                    f"if type(_v := {value}) is _datetime and _v.tzinfo is not None "
                    f"else {self.const(check)}(_v, now))"
                )
        return f"{self.const(check)}({value}, now)"

    def matches(self, test: Test, value: str) -> str:
        """`matches` on text: a literal prefilter on ASCII text, then the guarded regex."""
        search = self.const(_search(test))
        literals = required_literals(str(test.expected))
        if not literals:
            return f"((_v := {value}) is not None and {search}(str(_v)) is not None)"
        texts, folded = literals
        low = "_s.lower()" if folded else "_s"
        probes = " or ".join(
            f"{self.const(lit)} in _l" if i else f"{self.const(lit)} in (_l := {low})"
            for i, lit in enumerate(texts)
        )
        return (
            f"((_v := {value}) is not None and (not (_s := str(_v)).isascii() or {probes}) "
            f"and {search}(_s) is not None)"
        )

    def read(self, test: Test) -> str:
        """The expression that reads the test's field from ticket `t`."""
        if test.field in FIELDS and "." not in test.field:
            return f"t.{test.field}"
        if test.field in FIELDS:
            parent, child = test.field.split(".", 1)
            return f"t.{parent}.{child}"
        if test.field.startswith(CUSTOM_PREFIX):
            name = test.field[len(CUSTOM_PREFIX) :]
            return f"t.custom.get({self.const(name)})"
        return f"{self.const(test.get)}(t)"

    def evidence(self, node: Node, indent: str, lines: list[str]) -> None:
        """Lines appending to `out` what `node.evidence` appends, in the rule's own order."""
        if isinstance(node, Test):
            value = self.read(node)
            expected, seen = self.const(node.expected), self.const(node.seen)
            lines.append(f"{indent}if {self.test(node)}:")
            lines.append(
                f"{indent}    out.append(_E({node.field!r}, {node.op!r}, {expected}, "
                f"{seen}({value})))"
            )
            return
        if not isinstance(node, Group):
            name = self.const(node)
            lines.append(f"{indent}if {name}.test(t, now) is True:")
            lines.append(f"{indent}    {name}.evidence(t, now, out)")
            return
        if node.kind == "none":
            return
        for child in node.children:
            if isinstance(child, Test):
                self.evidence(child, indent, lines)
                continue
            condition = self.node(child)
            if condition == "False":
                continue
            body: list[str] = []
            self.evidence(child, indent + "    ", body)
            if body:
                lines.append(f"{indent}if {condition}:")
                lines += body


def _number(value: Any) -> float | None:
    """A test's numeric value as the checks see it (ints, floats, numeric text); else None."""
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


def _span(test: Test) -> Any:
    """The duration of an older_than/newer_than test, as its check computes it."""
    try:
        return parse_duration(test.expected)
    except (TypeError, ValueError):
        return None


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


def required_literals(pattern: str) -> tuple[tuple[str, ...], bool] | None:
    """Literals one of which every match of `pattern` contains, for a substring prefilter.

    Returns (literals, case_insensitive), or None when no such set is simply known. The
    literals are lower-cased when the pattern ignores case: on ASCII text (the only text the
    prefilter is used on) a case-insensitive match of an ASCII literal is exactly an occurrence
    of the lower-cased literal in the lower-cased text. Only ASCII literals are returned (a
    non-ASCII pattern character can match ASCII text under IGNORECASE, e.g. `ſ` and `s`).
    """
    try:
        compiled = re.compile(pattern)
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except (re.error, AttributeError, TypeError, RecursionError):
        return None
    found = _required(list(parsed))
    if not found or any(not lit or not lit.isascii() for lit in found):
        return None
    folded = bool(compiled.flags & re.IGNORECASE)
    literals = tuple(dict.fromkeys(lit.lower() if folded else lit for lit in found))
    return literals, folded


def _required(items: Sequence[Any]) -> list[str] | None:
    """For a parsed sequence: literals one of which every match contains (best option), or None.

    Options: each run of consecutive LITERAL items (zero-width assertions between them keep
    them adjacent in the text), and each plain group or alternation in the sequence (every
    match passes through it). The option whose shortest literal is longest wins.
    """
    options: list[list[str]] = []
    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(arg))
            continue
        if name == "AT":
            continue
        if run:
            options.append(["".join(run)])
            run = []
        if name == "SUBPATTERN":
            _group, add_flags, del_flags, sub = arg
            if not add_flags and not del_flags:
                inner = _required(list(sub))
                if inner:
                    options.append(inner)
        elif name == "BRANCH":
            union: list[str] = []
            for branch in arg[1]:
                inner = _required(list(branch))
                if not inner:
                    union = []
                    break
                union += inner
            if union:
                options.append(union)
    if run:
        options.append(["".join(run)])
    if not options:
        return None
    return max(options, key=lambda lits: (min(len(lit) for lit in lits), -len(lits)))


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


def _statuses(nodes: Sequence[Node]) -> tuple[str, ...]:
    """The status vocabulary, when some node tests the status (else nothing to dispatch on)."""
    definition = FIELDS.get("status")

    def tests_status(node: Node) -> bool:
        if isinstance(node, Group):
            return any(tests_status(child) for child in node.children)
        return isinstance(node, Test) and node.field == "status" and node.op in _FOLDABLE

    if definition is None or not any(tests_status(node) for node in nodes):
        return ()
    return definition.values


def _matcher_source(emitter: _Emitter, name: str, nodes: Sequence[Node]) -> list[str]:
    """A function `name(t, now)` returning the positions of the nodes true on `t`."""
    body: list[str] = []
    for i, node in enumerate(nodes):
        condition = emitter.node(node)
        if condition == "False":
            continue
        if condition == "True":
            body.append(f"    hits.append({i})")
        else:
            body += [f"    if {condition}:", f"        hits.append({i})"]
    lines = [f"def {name}(t, now):", "    hits = []", *emitter.prologue("    "), *body]
    lines.append("    return hits")
    emitter.lazy = {}
    return lines


def fuse_by_status(nodes: Sequence[Node], label: str = "") -> tuple[dict[str, Matcher], Matcher]:
    """Matchers returning the positions of the nodes true on a ticket with no unknowns: one
    per status of the vocabulary (its status tests folded away), and a general one for any
    other status value (or for every ticket, when no node tests the status).

    `label` goes into the functions' names, so that a profile tells them apart.
    """
    suffix = re.sub(r"\W", "_", f"_{label}" if label else "")
    general = _Emitter()
    name = f"_general{suffix}"
    exec("\n".join(_matcher_source(general, name, nodes)), general.names)
    fallback: Matcher = general.names[name]
    by_status: dict[str, Matcher] = {}
    for status in _statuses(nodes):
        emitter = _Emitter(status)
        name = re.sub(r"\W", "_", f"_when_{status}") + suffix
        exec("\n".join(_matcher_source(emitter, name, nodes)), emitter.names)
        by_status[status] = emitter.names[name]
    return by_status, fallback


def fuse_all(nodes: Sequence[Node], label: str = "") -> Matcher:
    """One function returning the positions of the nodes true on a ticket with no unknowns.

    It reads the status once and runs the matcher compiled for that status (status tests
    folded away); an unexpected status runs the general matcher.
    """
    by_status, general = fuse_by_status(nodes, label)

    if not by_status:
        return general
    namespace: dict[str, Any] = {"_by": by_status, "_general": general}
    exec(
        "def _matching(t, now):\n"
        "    s = t.status\n"
        "    if type(s) is str:\n"
        "        return _by.get(s, _general)(t, now)\n"
        "    return _general(t, now)\n",
        namespace,
    )
    dispatch: Matcher = namespace["_matching"]
    return dispatch


def fuse(node: Node) -> Fused:
    """One predicate equal to `node.test(ticket, now) is True` for tickets with no unknowns."""
    emitter = _Emitter()
    condition = emitter.node(node)
    lines = ["def _predicate(t, now):", *emitter.prologue("    "), f"    return {condition}"]
    exec("\n".join(lines), emitter.names)
    predicate: Fused = emitter.names["_predicate"]
    return predicate


def fuse_evidence(node: Node, label: str = "") -> Evidencer:
    """A function appending to `out` exactly what `node.evidence(ticket, now, out)` appends,
    for tickets with no unknowns (used on the rules that matched); `label` names it."""
    emitter = _Emitter()
    body: list[str] = []
    emitter.evidence(node, "    ", body)
    name = "_evidence_" + re.sub(r"\W", "_", label)
    lines = [f"def {name}(t, now, out):", *emitter.prologue("    "), *body, "    return None"]
    exec("\n".join(lines), emitter.names)
    evidencer: Evidencer = emitter.names[name]
    return evidencer


def reads(node: Node) -> frozenset[str]:
    """The ticket attributes a condition reads (`*` when it cannot be told)."""
    if isinstance(node, Group):
        return frozenset().union(*(reads(child) for child in node.children))
    if isinstance(node, Test):
        if node.field in FIELDS or node.field.startswith(CUSTOM_PREFIX):
            return frozenset({node.field.split(".", 1)[0]})
        return frozenset({"*"})
    return frozenset({"*"})
