"""`esc-sync report`: a self-contained HTML page whose charts a real browser draws."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from esc_sync.sandbox import Sandbox
from tests.views import chromium
from tests.views.conftest import esc_sync, solve


@pytest.fixture()
def report(box: Sandbox, config: Path) -> Path:
    """A live run, two escalated tickets solved by agents, another run, then the report."""
    assert esc_sync("run", "--config", str(config), "--once").returncode == 0
    solve(box, 29)
    solve(box, 18)
    assert esc_sync("run", "--config", str(config), "--once").returncode == 0
    page = config.parent / "out" / "report.html"
    result = esc_sync("report", "--config", str(config), "--since", "7d", "--out", str(page))
    assert result.returncode == 0, result.stderr
    assert "report:" in result.stdout
    return page


def test_report_is_self_contained_and_holds_the_figures(report: Path) -> None:
    html = report.read_text()

    urls = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    assert urls == set(), "the page must not load anything"
    assert "<script" not in html
    for heading in (
        "Escalations over time",
        "Recurring themes",
        "Open escalations by tier",
        "Resolution deadlines met vs missed",
        "Are we meeting our targets?",
        "By SLA profile",
        "Customer satisfaction",
        "Messages to people",
    ):
        assert heading in html
    messages = html.split("Messages to people")[1].split("</table>")[0]
    assert re.search(r"<td>team-leads</td><td>[1-9]\d*</td>", messages)  # sent, counted
    assert "manager-request" in html and "#29" not in html.split("Open escalations")[1]


def test_charts_are_drawn_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    if chromium.browser() is None:
        if os.environ.get("ESC_SYNC_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    charts = chromium.measure_charts(report, tmp_path)

    assert len(charts) >= 8
    assert all(c["width"] > 0 and c["height"] > 0 for c in charts)
    drawn = [c for c in charts if "empty" not in c["kind"]]
    assert any("stacked" in c["kind"] and c["bars"] > 0 for c in drawn)
    assert sum(c["bars"] for c in drawn) >= 20
    png = tmp_path / "report.png"
    chromium.screenshot(report, png, tmp_path)
    assert png.stat().st_size > 20_000


def test_report_without_any_run_says_so(config: Path, tmp_path: Path) -> None:
    page = tmp_path / "empty.html"

    result = esc_sync("report", "--config", str(config), "--out", str(page))

    assert result.returncode == 0, result.stderr
    assert "no escalations in this period" in page.read_text()
    assert not (config.parent / "demo.db").exists()


def test_report_bad_since_exits_2(config: Path) -> None:
    assert esc_sync("report", "--config", str(config), "--since", "lately").returncode == 2
