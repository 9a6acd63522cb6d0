"""`esc-sync audit`: the audit log, filtered by ticket, rule and time, for people and machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esc_sync.sandbox import Sandbox
from tests.views.conftest import esc_sync


@pytest.fixture()
def ran(box: Sandbox, config: Path) -> Path:
    """A dry run and a live run against the sandbox."""
    assert esc_sync("run", "--config", str(config), "--once", "--dry-run").returncode == 0
    assert esc_sync("run", "--config", str(config), "--once").returncode == 0
    return config


def _lines(stdout: str) -> list[dict[str, object]]:
    """JSON lines."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_audit_of_one_ticket_shows_decisions_and_evidence(ran: Path) -> None:
    result = esc_sync("audit", "--config", str(ran), "--ticket", "29")

    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout and "live" in result.stdout
    assert "applied; rules manager-request" in result.stdout
    assert "latest_customer_comment matches" in result.stdout  # the evidence


def test_audit_json_filters_by_rule_and_mode(ran: Path) -> None:
    result = esc_sync("audit", "--config", str(ran), "--rule", "legal-threat", "--live", "--json")

    records = _lines(result.stdout)
    assert records and all(not r["dry_run"] for r in records)
    assert all(
        "legal-threat" in [m["rule"] for m in r["rules"]] + r["already_fired"]  # type: ignore[union-attr, operator]
        for r in records
    )


def test_audit_since_filters_by_time(ran: Path) -> None:
    recent = _lines(esc_sync("audit", "-c", str(ran), "--since", "1h", "--json").stdout)
    future = _lines(
        esc_sync("audit", "-c", str(ran), "--since", "2999-01-01T00:00:00Z", "--json").stdout
    )

    assert len(recent) > 50 and future == []


def test_audit_errors(config: Path, ran: Path) -> None:
    bad = esc_sync("audit", "--config", str(ran), "--since", "last tuesday")
    (ran.parent / "demo-audit.jsonl").unlink()
    missing = esc_sync("audit", "--config", str(ran))

    assert bad.returncode == 2 and "--since" in bad.stderr
    assert missing.returncode == 1 and "no audit log" in missing.stderr
