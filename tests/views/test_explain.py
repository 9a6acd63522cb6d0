"""`esc-sync rules explain`: every rule, every condition, the value seen; read-only."""

from __future__ import annotations

import json
from pathlib import Path

from esc_sync.sandbox import Sandbox
from tests.views.conftest import api_requests, esc_sync

MANAGER_TICKET = 29  # the customer asks for "someone in charge"; an enterprise organization


def test_explain_shows_every_rule_with_values_seen_and_the_plan(box: Sandbox, config: Path) -> None:
    result = esc_sync("rules", "explain", str(MANAGER_TICKET), "--config", str(config))

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "MATCHED  manager-request" in text
    assert "NOT MATCHED  legal-threat" in text
    assert 'seen: "someone in charge"' in text
    assert "decision" in text and "tier: t1 -> t2" in text
    assert "plan (not sent)" in text and "esc-sync:manager-request:t2:ep1" in text
    assert "message: escalated to channel team-leads" in text  # the tier's channel is told


def test_explain_reads_only_and_leaves_no_state(box: Sandbox, config: Path) -> None:
    result = esc_sync("rules", "explain", str(MANAGER_TICKET), "--config", str(config))

    assert result.returncode == 0, result.stderr
    assert {r["method"] for r in api_requests(box)} == {"GET"}
    assert not (config.parent / "demo.db").exists()
    assert not (config.parent / "demo-audit.jsonl").exists()


def test_explain_json_lists_each_condition_with_its_result(box: Sandbox, config: Path) -> None:
    result = esc_sync(
        "rules",
        "explain",
        str(MANAGER_TICKET),
        "--config",
        str(config),
        "--json",
        "--connector",
        "sandbox",
        "--at",
        "2026-03-02T15:00:00Z",
    )

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ticket"] == MANAGER_TICKET and doc["at"] == "2026-03-02T15:00:00Z"
    verdicts = {r["rule"]: r["verdict"] for r in doc["rules"]}
    assert verdicts["manager-request"] == "matched"
    assert verdicts["legal-threat"] == "not matched"
    tests = _tests(next(r for r in doc["rules"] if r["rule"] == "manager-request")["when"])
    assert {"field": "status", "op": "in", "seen": "on_hold", "result": "true"}.items() <= tests[
        0
    ].items()
    assert all(t["result"] in ("true", "false", "unknown") for t in tests)
    assert doc["decision"]["tier_to"] == "t2"
    assert {"channel": "team-leads", "event": "escalated"} in doc["messages"]
    assert doc["plan"]["markers"]


def test_after_a_live_run_the_rules_show_as_already_fired(box: Sandbox, config: Path) -> None:
    assert esc_sync("run", "--config", str(config), "--once").returncode == 0

    result = esc_sync("rules", "explain", str(MANAGER_TICKET), "--config", str(config), "--json")

    doc = json.loads(result.stdout)
    verdicts = {r["rule"]: r["verdict"] for r in doc["rules"]}
    assert verdicts["manager-request"] == "already fired"
    assert doc["plan"] is None


def test_explain_usage_errors_exit_2(box: Sandbox, config: Path) -> None:
    missing = esc_sync("rules", "explain", "99999", "--config", str(config))
    bad_time = esc_sync("rules", "explain", "29", "--config", str(config), "--at", "yesterday")
    bad_name = esc_sync("rules", "explain", "29", "--config", str(config), "--connector", "nope")

    assert (missing.returncode, bad_time.returncode, bad_name.returncode) == (2, 2, 2)
    assert "99999" in missing.stderr and "Traceback" not in missing.stderr


def test_explain_with_a_refused_token_exits_3(box: Sandbox, config: Path) -> None:
    result = esc_sync("rules", "explain", "29", "--config", str(config), token="wrong")

    assert result.returncode == 3
    assert "authentication refused" in result.stderr


def _tests(node: dict[str, object]) -> list[dict[str, object]]:
    """The test conditions of a trace, depth first."""
    if "group" not in node:
        return [node]
    found: list[dict[str, object]] = []
    for child in node["conditions"]:  # type: ignore[attr-defined]
        found += _tests(child)
    return found
