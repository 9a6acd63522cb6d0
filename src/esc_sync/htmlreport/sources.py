"""Read-only views of the state store for the report: the mirror and the tier entries.

The store file is read through `state.readonly` (a read-only connection), so a report can never
change state. Both schema
1 (mirror only) and schema 2 (tier entries with deadlines and responses) are understood; what a
store does not hold yet is reported as absent, not guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esc_sync.state.readonly import read_rows


def parse_time(raw: Any) -> datetime | None:
    """An ISO-8601 text as an aware datetime (naive means UTC); None when absent or bad."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """One ticket as the mirror last saw it."""

    connector: str
    ticket: int
    status: str
    tier: str | None
    requester_id: int | None
    created_at: datetime | None
    updated_at: datetime | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The subject, when the mirror keeps it."""
        return str(self.data.get("subject") or "")

    @property
    def tags(self) -> list[str]:
        """The ticket's tags, when the mirror keeps them."""
        tags = self.data.get("tags")
        return [str(t) for t in tags] if isinstance(tags, list) else []

    @property
    def organization(self) -> str | None:
        """The organization's name (or id, for older mirrors)."""
        org = self.data.get("organization")
        if isinstance(org, dict):
            name = org.get("name") or (f"org {org['id']}" if org.get("id") else None)
            return str(name) if name else None
        return f"org {org}" if org not in (None, "") else None

    @property
    def requester(self) -> str | None:
        """The requester's email or name, or their id."""
        person = self.data.get("requester")
        if isinstance(person, dict):
            label = person.get("email") or person.get("name")
            if label:
                return str(label)
        return f"requester {self.requester_id}" if self.requester_id is not None else None


@dataclass(frozen=True, slots=True)
class TierEntryRow:
    """One tier a ticket entered, with its deadlines (schema 2 and later)."""

    connector: str
    ticket: int
    episode: int
    tier: str
    entered_at: datetime | None
    respond_by: datetime | None
    resolve_by: datetime | None
    responded_at: datetime | None
    state: str


@dataclass(slots=True)
class StoreSnapshot:
    """What the report reads from the state store."""

    mirror: list[MirrorRow] = field(default_factory=list)
    tier_entries: list[TierEntryRow] | None = None  # None: this store does not record them
    due_index: dict[str, int] = field(default_factory=dict)


def read_store(path: Path) -> StoreSnapshot:
    """Read the mirror and tier entries; an absent store reads as empty."""
    rows = read_rows(path)
    return StoreSnapshot(
        mirror=[_mirror_row(r) for r in rows.mirror],
        tier_entries=(
            None if rows.tier_entries is None else [_entry_row(r) for r in rows.tier_entries]
        ),
        due_index=rows.due_index,
    )


def _mirror_row(r: tuple[Any, ...]) -> MirrorRow:
    """A mirror row, its JSON data decoded."""
    try:
        data = json.loads(r[7]) if r[7] else {}
    except (TypeError, json.JSONDecodeError):
        data = {}
    return MirrorRow(
        connector=str(r[0]),
        ticket=int(r[1]),
        status=str(r[2]),
        tier=r[3],
        requester_id=int(r[4]) if r[4] is not None else None,
        created_at=parse_time(r[5]),
        updated_at=parse_time(r[6]),
        data=data if isinstance(data, dict) else {},
    )


def _entry_row(r: tuple[Any, ...]) -> TierEntryRow:
    """A tier entry row."""
    return TierEntryRow(
        connector=str(r[0]),
        ticket=int(r[1]),
        episode=int(r[2]),
        tier=str(r[3]),
        entered_at=parse_time(r[4]),
        respond_by=parse_time(r[5]),
        resolve_by=parse_time(r[6]),
        responded_at=parse_time(r[7]),
        state=str(r[8]),
    )
