"""Helpers for the policy stories: tickets from plain values, a frozen clock, tier TOML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esc_sync.model import Organization, Person, Ticket

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

TIERS = """
[[tiers]]
id = "t1"
name = "Frontline"
respond_within = "4h"
resolve_within = "2d"
playbook = "frontline"

[[tiers]]
id = "t2"
name = "Team lead"
respond_within = "2h"
resolve_within = "1d"
playbook = "team-lead"

[[tiers]]
id = "t3"
name = "Specialist"
respond_within = "1h"
resolve_within = "8h"

[playbooks.frontline]
steps = [{ title = "Acknowledge", due = "2h", after = "escalated" }]

[playbooks.team-lead]
steps = [
  { title = "Call the customer", due = "2h", after = "escalated" },
  { title = "Review the history", due = "4h", after = "previous" },
  { title = "Follow up", due = "3d", after = "resolved" },
  { title = "Share what was learned", due = "5d", after = "previous" },
]

[playbooks.legal-review]
steps = [{ title = "Ask legal to review", due = "1d", after = "escalated" }]
"""


def ticket(**fields: Any) -> Ticket:
    """A ticket from plain values: dicts for requester/organization, ISO text for times."""
    if isinstance(fields.get("requester"), dict):
        person = dict(fields["requester"])
        person["tags"] = tuple(person.get("tags", ()))
        fields["requester"] = Person(**person)
    if isinstance(fields.get("organization"), dict):
        org = dict(fields["organization"])
        org["tags"] = tuple(org.get("tags", ()))
        fields["organization"] = Organization(**org)
    for key, value in list(fields.items()):
        if key.endswith("_at") and isinstance(value, str):
            fields[key] = datetime.fromisoformat(value)
    if "tags" in fields:
        fields["tags"] = tuple(fields["tags"])
    if "unknown" in fields:
        fields["unknown"] = frozenset(fields["unknown"])
    fields.setdefault("id", 1)
    return Ticket(**fields)


def write(folder: Path, name: str, text: str) -> Path:
    """Write a policy (or template) file and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
