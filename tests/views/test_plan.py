"""`run --dry-run --plan-out` and `plan diff`: a policy change reviewed before it goes live."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from esc_sync.sandbox import Sandbox
from tests.views.conftest import RULES, esc_sync


def _policy_sending_manager_requests_to_t3(tmp_path: Path) -> Path:
    """A copy of the default rules in which manager requests go to t3."""
    rules = tmp_path / "rules-new"
    shutil.copytree(RULES, rules)
    triggers = rules / "triggers.toml"
    text = triggers.read_text()
    head, rest = text.split('id = "manager-request"', 1)
    rest = rest.replace('then.escalate_to = "t2"', 'then.escalate_to = "t3"', 1)
    triggers.write_text(head + 'id = "manager-request"' + rest)
    return rules


def test_dry_run_prints_a_summary_and_writes_the_plan(box: Sandbox, config: Path) -> None:
    plan = config.parent / "plan.json"

    result = esc_sync(
        "run", "--config", str(config), "--once", "--dry-run", "--plan-out", str(plan)
    )

    assert result.returncode == 0, result.stderr
    assert "summary (dry run: nothing was written)" in result.stdout
    for row in ("tickets read", "rule manager-request", "to tier t2", "writes planned: tasks"):
        assert row in result.stdout
    doc = json.loads(plan.read_text())
    assert doc["format"] == "esc-sync-plan/1"
    entry = next(t for t in doc["tickets"] if t["ticket"] == 29)
    assert entry["rules"] == ["manager-request", "vip-high-priority"]
    assert (entry["tier_from"], entry["tier_to"]) == ("t1", "t2")
    assert entry["deadlines"]["respond_by"] and "esc-manager-request" in entry["tags"]
    assert entry["tasks"] and entry["subject"]
    assert "NOTIFY team-leads escalated" in entry["messages"]  # planned, not sent


def test_plan_diff_names_the_tickets_a_policy_change_moves(
    box: Sandbox, config: Path, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert (
        esc_sync("run", "-c", str(config), "--once", "--dry-run", "--plan-out", str(old)).returncode
        == 0
    )
    rules = _policy_sending_manager_requests_to_t3(tmp_path)
    changed = config.with_name("config-new.toml")
    text = config.read_text()
    changed.write_text(
        text.replace(f'rules = "{RULES.as_posix()}"', f'rules = "{rules.as_posix()}"')
    )
    assert (
        esc_sync(
            "run", "-c", str(changed), "--once", "--dry-run", "--plan-out", str(new)
        ).returncode
        == 0
    )

    result = esc_sync("plan", "diff", str(old), str(new))
    as_json = json.loads(esc_sync("plan", "diff", str(old), str(new), "--json").stdout)

    assert result.returncode == 0, result.stderr
    moved = as_json["more_to_tier"]["t3"]
    assert moved and moved == as_json["no_longer_to_tier"]["t2"]
    assert f"with the new rules, {len(moved)} more tickets would go to t3" in result.stdout
    assert f"{len(moved)} tickets would no longer go to t2" in result.stdout
    same = esc_sync("plan", "diff", str(old), str(old))
    assert "no change" in same.stdout


def test_plan_diff_refuses_what_is_not_a_plan(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"tickets": 3}')

    not_a_plan = esc_sync("plan", "diff", str(bogus), str(bogus))
    missing = esc_sync("plan", "diff", str(tmp_path / "nope.json"), str(bogus))

    assert not_a_plan.returncode == 1 and "not a plan file" in not_a_plan.stderr
    assert missing.returncode == 2


def test_plan_out_needs_once(config: Path) -> None:
    result = esc_sync("run", "--config", str(config), "--plan-out", "x.json")

    assert result.returncode == 2 and "--once" in result.stderr
