"""Per-condition traces for `esc-sync rules explain`: each test with the value it saw and its
three-valued result, each group with all of its children (no short-circuit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from esc_sync.model import Ticket

Tri = bool | None


class Node(Protocol):
    """A compiled condition, as traces read it (`esc_sync.policy.compile` has them)."""

    def test(self, ticket: Ticket, now: datetime) -> Tri: ...


@dataclass(frozen=True, slots=True)
class Trace:
    """One condition as evaluated on a ticket: a test with the value seen, or a group."""

    kind: str  # "test", or the group kind: "all", "any", "none"
    result: Tri
    field: str | None = None
    op: str | None = None
    expected: Any = None
    seen: Any = None
    children: tuple[Trace, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly view: tests with field/op/expected/seen, groups with children."""
        if self.kind == "test":
            return {
                "field": self.field,
                "op": self.op,
                "expected": list(self.expected)
                if isinstance(self.expected, tuple)
                else self.expected,
                "seen": self.seen,
                "result": tri_word(self.result),
            }
        return {
            "group": self.kind,
            "result": tri_word(self.result),
            "conditions": [c.as_json() for c in self.children],
        }


def tri_word(result: Tri) -> str:
    """`true`, `false` or `unknown`."""
    return "unknown" if result is None else str(result).lower()


def trace(node: Node, ticket: Ticket, now: datetime) -> Trace:
    """The trace of any compiled condition; a node without `trace` shows its result only."""
    method = getattr(node, "trace", None)
    if method is not None:
        traced: Trace = method(ticket, now)
        return traced
    return Trace(type(node).__name__.lower(), node.test(ticket, now))
