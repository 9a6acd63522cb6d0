"""Chaos: 20 % faults on reads and writes, the worker SIGKILLed at random, then exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import run_chaos
from tests.frozen import FROZEN

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_faults_and_kills_leave_every_escalation_exactly_once(tmp_path: Path) -> None:
    result = run_chaos(tmp_path, RULES, tickets=64, kills=6, seed=11, now=FROZEN)

    assert result.kills >= 1, "no run was killed: the chaos did not happen"
    assert result.faults_injected > 0
    assert result.duplicates == []
    assert result.duplicate_tasks == []
    assert result.misses == []
    assert result.wrong_tier == []
    assert result.decoys_touched == []
