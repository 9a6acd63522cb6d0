"""What the state store knows about one ticket, as plain data for the planner.

The worker gathers these facts read-only (`esc_sync.state.facts`) before it plans; the planner
never sees the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from esc_sync.model import MARKER_PREFIX, LedgerEntry, TierEntry


@dataclass(frozen=True, slots=True)
class History:
    """What the worker knows of the ticket's past, for the briefing."""

    prior_tickets: int = 0
    recent_tickets: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Facts:
    """One ticket's episode, ledger, active tier entry, surge neighbours and history."""

    episode: int = 1
    ledger: Mapping[str, LedgerEntry] = field(default_factory=dict)
    entry: TierEntry | None = None  # the active tier entry the ladder follows
    surge_times: Mapping[str, list[datetime]] = field(default_factory=dict)
    history: History = History()

    def done(self) -> set[str]:
        """Ledger keys whose effect is recorded as made, or is a message waiting to be sent
        again (recovery retries it; planning it anew would start its attempts over)."""
        return {
            k for k, e in self.ledger.items() if e.state == "done" or message_waiting(k, e.detail)
        }

    def fired(self) -> set[str]:
        """Rules the ledger says fired this episode."""
        done = self.ledger.items()
        return {k[5:] for k, e in done if k.startswith("rule:") and e.state == "done"}


def message_waiting(key: str, detail: dict[str, Any]) -> bool:
    """A message whose send failed after its writes landed, waiting for its next attempt."""
    return key.startswith("notify:") and "retry_after" in detail and not detail.get("sending")


def fired_from_markers(markers: set[str], episode: int) -> set[str]:
    """Rules whose marker for this episode is already on the ticket."""
    fired = set()
    for mark in markers:
        parts = mark[len(MARKER_PREFIX) :].split(":")
        if len(parts) == 3 and parts[2] == f"ep{episode}":
            fired.add(parts[0])
    return fired
