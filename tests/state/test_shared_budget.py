"""One API budget per helpdesk account, shared by every worker through PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from esc_sync.connectors.budget import AccountBudgets, Budget
from esc_sync.state.protocol import StateStore

ACCOUNT = "https://acme.zendesk.com"


@pytest.fixture
def backend() -> str:
    """Shared budgets are a PostgreSQL matter (SQLite state has one worker)."""
    return "postgresql"


def worker_budget(store: StateStore, slept: list[float]) -> Budget:
    """One worker's budget of the account, sharing it through `store`, sleeping on paper."""
    assert isinstance(store, AccountBudgets)
    budget = Budget(sleep=slept.append, clock=lambda: 1000.0)
    budget.share(store, ACCOUNT)
    return budget


def test_requests_of_two_workers_count_against_one_budget(
    open_state: Callable[..., StateStore],
) -> None:
    slept_a: list[float] = []
    slept_b: list[float] = []
    a = worker_budget(open_state("a"), slept_a)
    b = worker_budget(open_state("b"), slept_b)
    a.observe({"X-Rate-Limit": "100", "X-Rate-Limit-Remaining": "100"})
    for _ in range(40):  # each alone stays above the read floor (20 left of 100)...
        a.wait_turn(write=False)
        b.wait_turn(write=False)
    assert slept_a == [] and slept_b == []
    b.wait_turn(write=False)  # ...together they spent 81: the 82nd read waits for the refill
    assert len(slept_b) == 1 and slept_b[0] >= 1.0
    assert ("account-floor", slept_b[0]) in b.pauses
    a.observe({"X-Rate-Limit": "100", "X-Rate-Limit-Remaining": "90"})  # a fresh report
    b.wait_turn(write=False)
    assert len(slept_b) == 1


def test_a_429_met_by_one_worker_pauses_the_other(open_state: Callable[..., StateStore]) -> None:
    slept_a: list[float] = []
    slept_b: list[float] = []
    a = worker_budget(open_state("a"), slept_a)
    b = worker_budget(open_state("b"), slept_b)
    a.pause(5.0)
    b.wait_turn(write=True)
    assert len(slept_b) == 1 and 4.0 < slept_b[0] <= 5.0
    assert b.pauses[0][0] == "account-429"
