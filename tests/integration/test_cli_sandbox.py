"""The CLI against the sandbox over real HTTP, the way an admin runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from esc_sync.demo import write_demo_config
from esc_sync.sandbox import Sandbox
from tests.frozen import child_env, frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "itest-token-7f3a9c"
GROUPS = {"t1": 360000001, "t2": 360000002, "t3": 360000003, "t4": 360000004}


# The change feed's path in each dialect (faults are armed on it).
FEED = {"zendesk": r"incremental", "freshdesk": r"^/api/v2/tickets$"}


@pytest.fixture(params=["zendesk", "freshdesk"])
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A fresh sandbox on a free port, speaking each dialect in turn."""
    with frozen_sandbox(
        port=0, token=TOKEN, recent_window=0, incremental_limit=1000, dialect=request.param
    ) as sandbox:
        yield sandbox


@pytest.fixture()
def config(box: Sandbox, tmp_path: Path) -> Path:
    """A worker config (with a profile of the sandbox's dialect) pointing at the sandbox."""
    return write_demo_config(tmp_path, box.url, RULES, box.dialect)


def esc_sync(
    *args: str, token: str = TOKEN, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process."""
    env = child_env({"ESC_SYNC_DEMO_TOKEN": token, **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "esc_sync", *args], capture_output=True, text=True, env=env,
        timeout=300, check=False,
    )


def api_requests(box: Sandbox) -> list[dict[str, Any]]:
    """Requests the helpdesk API received (the sandbox's own admin calls excluded)."""
    log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()
    return [r for r in log if not r["path"].startswith("/__sandbox")]


def stored(box: Sandbox, ticket_id: int) -> dict[str, Any]:
    """The sandbox's full record of a ticket."""
    got = requests.get(f"{box.url}/__sandbox/tickets/{ticket_id}", timeout=10).json()
    return got.get("ticket", got)  # type: ignore[no-any-return]


def expectations(box: Sandbox) -> dict[int, dict[str, Any]]:
    """The seed's expected outcome per ticket."""
    raw = requests.get(f"{box.url}/__sandbox/expectations", timeout=10).json()
    return {int(k): v for k, v in raw.items()}


def worker_notes(ticket: dict[str, Any]) -> list[str]:
    """Bodies of the internal notes the worker wrote."""
    return [c["body"] for c in ticket.get("comments", [])
            if not c.get("public") and "esc-sync:" in c.get("body", "")]


def test_dry_run_sends_only_get_requests(box: Sandbox, config: Path) -> None:
    before = {tid: stored(box, tid) for tid in expectations(box)}

    result = esc_sync("run", "--config", str(config), "--once", "--dry-run")

    assert result.returncode == 0, result.stderr
    methods = {r["method"] for r in api_requests(box)}
    assert methods == {"GET"}
    assert "planned, not sent" in result.stdout
    after = {tid: stored(box, tid) for tid in before}
    assert after == before


def test_live_run_escalates_every_expected_ticket_and_leaves_decoys(
    box: Sandbox, config: Path
) -> None:
    expected = expectations(box)
    assert len(expected) >= 60

    result = esc_sync("run", "--config", str(config), "--once")

    assert result.returncode == 0, result.stderr
    for tid, want in expected.items():
        ticket = stored(box, tid)
        notes = worker_notes(ticket)
        if not want["rules"]:
            assert notes == [], f"decoy ticket {tid} was touched"
            assert not any(t.startswith("esc-") for t in ticket["tags"]), tid
            continue
        assert len(notes) == 1, f"ticket {tid}: expected one briefing, got {len(notes)}"
        for rule in want["rules"]:
            assert f"esc-sync:{rule}:" in notes[0], f"ticket {tid}: no marker for {rule}"
        if want.get("tier"):
            assert ticket["group_id"] == GROUPS[want["tier"]], tid


def test_second_run_makes_no_writes(box: Sandbox, config: Path) -> None:
    first = esc_sync("run", "--config", str(config), "--once")
    assert first.returncode == 0, first.stderr
    tasks_before = [r for r in api_requests(box) if r["method"] == "POST"]
    requests.delete(f"{box.url}/__sandbox/requests", timeout=10)

    second = esc_sync("run", "--config", str(config), "--once")

    assert second.returncode == 0, second.stderr
    writes = [r for r in api_requests(box) if r["method"] != "GET"]
    assert writes == []
    assert tasks_before, "the first run created follow-up tasks"


def test_refused_token_exits_3_without_leaking_it(box: Sandbox, config: Path) -> None:
    result = esc_sync("run", "--config", str(config), "--once", token="wrong-secret-123")

    assert result.returncode == 3
    assert "authentication refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert "wrong-secret-123" not in result.stderr + result.stdout


def test_rate_limit_and_server_errors_are_ridden_out(box: Sandbox, config: Path) -> None:
    feed = FEED[box.dialect]
    for kind in ("429", "503"):
        requests.post(f"{box.url}/__sandbox/faults",
                      json={"kind": kind, "count": 1, "path": feed}, timeout=10)

    result = esc_sync("run", "--config", str(config), "--once")

    assert result.returncode == 0, result.stderr
    statuses = [
        r["status"] for r in api_requests(box)
        if r["method"] == "GET" and re.search(feed, r["path"])
    ]
    assert 429 in statuses and 503 in statuses and statuses[-1] == 200


def test_a_write_failing_for_now_defers_one_ticket_and_the_run_still_completes(
    box: Sandbox, config: Path
) -> None:
    writes = r"^/api/v2/tickets/\d+(\.json)?$"  # a single ticket's PUT, both dialects
    requests.post(f"{box.url}/__sandbox/faults",
                  json={"kind": "500", "count": 8, "path": writes, "method": "PUT"}, timeout=10)

    # single writes (no bulk jobs), so the failing PUTs are ticket updates
    result = esc_sync("run", "--config", str(config), "--once",
                      ESC_SYNC_WORKER__BULK_THRESHOLD="1000")

    assert result.returncode == 0, result.stderr
    assert "deferred to the next cycle" in result.stdout
    audit = [json.loads(line) for line in (config.parent / "demo-audit.jsonl").read_text()
             .splitlines()]
    deferred = [r for r in audit if r["outcome"] == "deferred"]
    applied = [r for r in audit if r["outcome"] == "applied"]
    assert deferred and applied and "500" in deferred[0]["error"]


def test_a_run_stopped_by_its_deadline_says_so_and_exits_4(box: Sandbox, config: Path) -> None:
    profile = config.parent / "sandbox.toml"
    lines = [ln for ln in profile.read_text().splitlines() if not ln.startswith("page_size")]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("start ="))
    profile.write_text("\n".join([*lines[: at + 1], "page_size = 10", *lines[at + 1 :]]) + "\n")

    result = esc_sync("run", "--config", str(config), "--once",
                      ESC_SYNC_WORKER__CYCLE_DEADLINE="0s")

    assert result.returncode == 4, result.stderr
    assert "stopped early" in result.stdout and "run again" in result.stderr
    audit = (config.parent / "demo-audit.jsonl").read_text()
    assert '"outcome": "stopped-early"' in audit
    again = esc_sync("run", "--config", str(config), "--once")
    assert again.returncode in (0, 4)


def test_invalid_policy_exits_1_naming_the_problem(tmp_path: Path, box: Sandbox) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        '[[rules]]\nid = "vip-urgent"\nwhen.all = [{ field = "prioity", eq = "urgent" }]\n'
        'then.tags = ["x"]\n'
    )
    result = esc_sync("rules", "check", str(rules))

    assert result.returncode == 1
    assert 'rule "vip-urgent"' in result.stderr and "prioity" in result.stderr
