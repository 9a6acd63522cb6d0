"""`esc-sync report`: a self-contained HTML page from the state store and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from esc_sync.auditq import read_records
from esc_sync.htmlreport.data import ReportData, build_report_data
from esc_sync.htmlreport.page import render_page
from esc_sync.htmlreport.sources import read_store

__all__ = ["ReportData", "build_report", "build_report_data", "render_page"]


def build_report(
    *,
    state_path: Path,
    audit_path: Path,
    now: datetime,
    since: datetime,
    tier_order: Sequence[str] = (),
) -> tuple[str, ReportData]:
    """Read the store (read-only) and the audit log, and render the page."""
    records = read_records(audit_path) if audit_path.exists() else iter(())
    data = build_report_data(
        records, read_store(state_path), now=now, since=since, tier_order=tier_order
    )
    return render_page(data), data
