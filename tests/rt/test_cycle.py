"""`esc-sync run --once` against the live RT with the default policy (rules/): a dry run reads
only, a live run makes every expected escalation and leaves the decoys alone, a second run
writes nothing.

The three runs share the session's seeded tickets and happen once each, in that order (the
fixtures depend on each other); every run has its own fresh state store and audit log, except
the second live run, which continues from the first one's state as the daemon would.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.rt.expect import (
    MARKER,
    decided_deadlines,
    default_rules,
    esc_sync,
    escalation_problems,
    expected_tier,
    planned_tasks,
    read_tickets,
)
from tests.rt.rtlive import Rt, Seeded, write_config

pytestmark = pytest.mark.rt


@dataclass
class Run:
    """One CLI run and RT's record around it."""

    result: subprocess.CompletedProcess[str]
    work: Path
    txn_before: int
    txn_after: int
    before: dict[int, tuple[Any, ...]]
    after: dict[int, tuple[Any, ...]]

    @property
    def audit(self) -> Path:
        return self.work / "audit.jsonl"


def run_once(rt: Rt, seeded: Seeded, work: Path, *extra: str) -> Run:
    config = work / "config.toml"
    if not config.exists():
        config = write_config(work, rt)
    ids = sorted(seeded.tickets)
    txn_before, before = rt.max_transaction(), rt.snapshot(ids)
    result = esc_sync("run", "--config", str(config), "--once", *extra, rt=rt)
    (work / f"run-{len(list(work.glob('run-*.out')))}.out").write_text(
        result.stdout + "\n--- stderr ---\n" + result.stderr, encoding="utf-8")
    return Run(result, work, txn_before, rt.max_transaction(), before, rt.snapshot(ids))


@pytest.fixture(scope="module")
def dry_run(rt: Rt, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("rt-dry")
    return run_once(rt, seeded, work, "--dry-run", "--plan-out", str(work / "plan.json"))


@pytest.fixture(scope="module")
def live_run(rt: Rt, seeded: Seeded, dry_run: Run,
             tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_once(rt, seeded, tmp_path_factory.mktemp("rt-live"))


@pytest.fixture(scope="module")
def second_run(rt: Rt, seeded: Seeded, live_run: Run) -> Run:
    return run_once(rt, seeded, live_run.work)


def test_dry_run_only_reads_and_plans_every_expected_escalation(
    dry_run: Run, seeded: Seeded
) -> None:
    assert dry_run.result.returncode == 0, dry_run.result.stderr[-3000:]
    assert dry_run.txn_after == dry_run.txn_before, "the dry run created RT transactions"
    assert dry_run.after == dry_run.before, "the dry run changed tickets"

    plan = json.loads((dry_run.work / "plan.json").read_text(encoding="utf-8"))
    planned = {int(e["ticket"]): e for e in plan["tickets"]}
    rules = default_rules()
    for tid, scenario in seeded.expected.items():
        assert tid in planned, f"#{tid} {scenario.subject!r} is not in the plan"
        assert set(planned[tid]["rules"]) == set(scenario.rules), (tid, planned[tid]["rules"])
        tier = expected_tier(scenario, rules)
        moves_to = tier if tier != scenario.tier else None  # a ticket never moves down
        assert planned[tid]["tier_to"] == moves_to, (tid, planned[tid])
    touched = sorted(set(planned) & set(seeded.decoys))
    assert touched == [], f"decoys planned: {[(t, planned[t]['rules']) for t in touched]}"


def test_live_run_makes_every_expected_escalation_and_leaves_decoys(
    rt: Rt, live_run: Run, dry_run: Run, seeded: Seeded
) -> None:
    assert live_run.result.returncode == 0, live_run.result.stderr[-3000:]

    decided = decided_deadlines(live_run.audit)
    assert set(decided) >= {
        tid for tid, s in seeded.expected.items() if expected_tier(s, default_rules()) != s.tier
    }, "the audit log lacks the deadlines of some escalations"
    problems = escalation_problems(
        rt, seeded, tasks=planned_tasks(dry_run.audit), deadlines=decided)
    assert problems == [], "\n".join(problems)
    for tid in seeded.decoys:
        assert live_run.after[tid] == live_run.before[tid], f"decoy #{tid} was touched"
    assert live_run.txn_after > live_run.txn_before


def test_live_run_writes_only_the_briefing_as_an_internal_comment(
    rt: Rt, live_run: Run, seeded: Seeded
) -> None:
    states = read_tickets(rt, sorted(seeded.expected))
    for tid, state in states.items():
        for reply in state.bot_replies:
            assert MARKER not in reply, f"#{tid}: a public reply carries a worker marker"
        for child in state.children:
            assert child.tier is not None, f"task #{child.id} is outside the tier queues"


def test_second_run_writes_nothing(second_run: Run, seeded: Seeded) -> None:
    assert second_run.result.returncode == 0, second_run.result.stderr[-3000:]
    assert second_run.txn_after == second_run.txn_before, (
        f"the second run created {second_run.txn_after - second_run.txn_before} transactions")
    assert second_run.after == second_run.before
