"""A `--once` run keeps what its summary and plan file need, not one record per ticket read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from esc_sync.apply.results import CycleReport
from esc_sync.plans import plan_document
from esc_sync.report import summary_table
from esc_sync.runview import KeptRecords


def _records() -> list[dict[str, Any]]:
    """No-change decisions (most of them), skips, a dry-run plan, an applied one, a ladder step."""
    planned = {"markers": ["esc-sync:r:t2:ep1"], "tags": ["x"], "tasks": []}
    records: list[dict[str, Any]] = [
        {
            "ticket": n,
            "outcome": "no-change",
            "planned": None,
            "calls": {"made": [], "withheld": []},
        }
        for n in range(1, 500)
    ]
    records += [{"ticket": 900, "outcome": "skipped", "error": "boom"}]
    records += [
        {
            "connector": "zd",
            "ticket": 7,
            "outcome": "dry-run",
            "planned": planned,
            "rules": [{"rule": "r"}],
            "calls": {"made": [], "withheld": ["PUT ticket 7", "POST task a"]},
        },
        {
            "connector": "zd",
            "ticket": 8,
            "outcome": "applied",
            "planned": planned,
            "rules": [{"rule": "r"}],
            "calls": {"made": ["PUT ticket 8", "PUT ticket 8 (public reply)"], "withheld": []},
        },
        {"ticket": 9, "outcome": "applied", "ladder": [], "calls": {"made": ["PUT ticket 9"]}},
    ]
    return records


def _text(table: Any) -> str:
    console = Console(width=100, record=True)
    console.print(table)
    return console.export_text()


def test_kept_records_give_the_same_summary_and_plan_as_every_record() -> None:
    """Summary table and plan file are the same as with the full list; only 3 records are kept."""
    records = _records()
    kept = KeptRecords()
    for record in records:
        kept.append(record)
    assert len(kept.kept) == 3
    assert len(kept) == len(records)
    report = CycleReport(connector="zd", dry_run=False, tickets_read=500)
    assert _text(summary_table([report], kept)) == _text(summary_table([report], records))
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    want = plan_document(records, {}, generated_at=at, policy="rules")
    assert plan_document(kept, {}, generated_at=at, policy="rules") == want
    assert len(want["tickets"]) == 2
