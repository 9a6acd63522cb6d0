"""Headless Chromium for tests: measure the report's charts as a browser lays them out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Appended to a copy of the page only: the report itself carries no script.
PROBE = """<script>
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {kind: s.getAttribute('class'), width: r.width, height: r.height,
            bars: [...s.querySelectorAll('rect.bar')].filter(b => {
              const q = b.getBoundingClientRect(); return q.width > 0 && q.height > 0; }).length};
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(charts);
  document.body.appendChild(pre);
});
</script>"""


def browser() -> str | None:
    """The Chromium executable, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with the test flags and a throwaway profile."""
    exe = browser()
    assert exe is not None
    return subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def measure_charts(page: Path, work: Path) -> list[dict[str, Any]]:
    """Every `svg.chart` of the page with its laid-out size and how many bars are drawn."""
    probe = work / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    result = run(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], work / "profile")
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no probe output: {result.stderr[-2000:]}"
    charts: list[dict[str, Any]] = json.loads(found.group(1).replace("&quot;", '"'))
    return charts


def screenshot(page: Path, png: Path, work: Path, size: str = "1000,2200") -> None:
    """A PNG of the page as a browser draws it."""
    result = run([f"--window-size={size}", f"--screenshot={png}", page.as_uri()], work / "shot")
    assert png.exists(), result.stderr[-2000:]
