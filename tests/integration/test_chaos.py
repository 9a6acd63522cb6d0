"""Chaos: 20 % faults on reads and writes, the worker SIGKILLed at random, then exactly once.

Then ten runs under the same faults, none killed: a failing write defers one ticket, not the
cycle, so at least nine of them complete (exit 0).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import run_chaos
from tests.frozen import FROZEN

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.mark.parametrize(("dialect", "kills"), [("zendesk", 6), ("freshdesk", 3)])
def test_faults_and_kills_leave_every_escalation_exactly_once(
    tmp_path: Path, dialect: str, kills: int
) -> None:
    result = run_chaos(
        tmp_path, RULES, tickets=64, kills=kills, seed=11, now=FROZEN, dialect=dialect,
        steady_runs=10,
    )

    assert result.kills >= 1, "no run was killed: the chaos did not happen"
    assert result.faults_injected > 0
    assert result.duplicates == []
    assert result.duplicate_tasks == []
    assert result.misses == []
    assert result.wrong_tier == []
    assert result.decoys_touched == []
    assert result.steady_completed >= 9, result.steady_exits
