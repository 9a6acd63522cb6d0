"""`esc-sync audit`: query the audit log (JSON lines) by ticket, rule, connector and time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esc_sync.durations import parse_duration
from esc_sync.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for the audit log; None means any."""

    ticket: int | None = None
    rule: str | None = None
    since: datetime | None = None
    connector: str | None = None
    live_only: bool = False

    def accepts(self, record: dict[str, Any]) -> bool:
        """Whether one record passes every filter."""
        if self.ticket is not None and record.get("ticket") != self.ticket:
            return False
        if self.connector is not None and record.get("connector") != self.connector:
            return False
        if self.live_only and record.get("dry_run"):
            return False
        if self.rule is not None and self.rule not in record_rules(record):
            return False
        if self.since is not None:
            at = record_time(record)
            if at is None or at < self.since:
                return False
        return True


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from now ("30d", "4h") or an ISO-8601 time (naive = UTC)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: use a duration such as 30d or 4h, or an ISO-8601 time"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def record_rules(record: dict[str, Any]) -> list[str]:
    """Rule ids a record names: the rules matched now and those already fired."""
    matched = [str(r.get("rule")) for r in record.get("rules") or [] if isinstance(r, dict)]
    return matched + [str(r) for r in record.get("already_fired") or []]


def record_time(record: dict[str, Any]) -> datetime | None:
    """The record's `at` as an aware datetime."""
    raw = record.get("at")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every well-formed record of the audit log, oldest first (a torn last line is skipped)."""
    if not path.exists():
        raise ConfigError(f"{path}: no audit log yet (run the worker first)")
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def query(path: Path, q: AuditQuery) -> list[dict[str, Any]]:
    """The records that pass the filters."""
    return [r for r in read_records(path) if q.accepts(r)]


def describe(record: dict[str, Any]) -> str:
    """One record in a few words: what happened to the ticket."""
    outcome = str(record.get("outcome", "?"))
    if outcome == "skipped":
        return f"skipped: {record.get('error', '')}"
    rules = ", ".join(str(r.get("rule")) for r in record.get("rules") or [])
    fired = ", ".join(str(r) for r in record.get("already_fired") or [])
    parts = [outcome]
    if rules:
        parts.append(f"rules {rules}")
    if record.get("tier_to"):
        parts.append(f"tier {record.get('tier_from') or '-'} -> {record['tier_to']}")
    if fired:
        parts.append(f"already fired {fired}")
    deadlines = record.get("deadlines")
    if isinstance(deadlines, dict) and deadlines.get("target"):
        parts.append(f"target {deadlines['target']}")
    for step in record.get("ladder") or []:
        if isinstance(step, dict) and step.get("step") == "retarget":
            parts.append(f"deadlines counted again: {step.get('target')}")
    calls = record.get("calls") or {}
    made, withheld = calls.get("made") or [], calls.get("withheld") or []
    if made:
        parts.append(f"{len(made)} calls made")
    if withheld:
        parts.append(f"{len(withheld)} writes withheld")
    return "; ".join(parts)
