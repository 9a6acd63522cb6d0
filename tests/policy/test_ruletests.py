"""`esc-sync rules test`: shipped cases pass, a wrong expectation fails with a readable diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from esc_sync.cli import app
from esc_sync.errors import PolicyError
from esc_sync.policy import load_policy
from esc_sync.policy.ruletests import load_cases, run_rule_tests

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_every_shipped_case_passes_and_every_default_rule_is_covered() -> None:
    results = run_rule_tests(load_policy(RULES), RULES)
    assert results and all(r.passed for r in results), [r.diff for r in results if r.diff]
    covered = {rule for _, case in load_cases(RULES) for rule in case.expect.rules or []}
    assert covered == {rule.id for rule in load_policy(RULES).rules}


def copy_policy(tmp_path: Path, case: str) -> Path:
    """The default policy with one extra case file."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    (target / "tests" / "extra.toml").write_text(case)
    return target


def test_a_wrong_expectation_fails_with_a_diff_and_exit_1(tmp_path: Path) -> None:
    rules = copy_policy(tmp_path, """
[[cases]]
name = "wrong tier on purpose"
now = "2026-03-02T10:00:00-05:00"
ticket = { status = "open", tier = "t1", latest_customer_comment = "manager!" }
expect = { tier = "t4", deadlines = { respond_by = "2026-03-02T11:00:00-05:00" } }
""")
    result = CliRunner().invoke(app, ["rules", "test", str(rules)])

    assert result.exit_code == 1
    assert "FAIL" in result.output and "wrong tier on purpose" in result.output
    assert "tier: expected 't4', got 't2'" in result.output
    assert ("deadlines.respond_by: expected '2026-03-02T11:00:00-05:00', "
            "got '2026-03-02T12:00:00-05:00'") in result.output
    assert "37 passed, 1 failed" in result.output


def test_a_case_with_an_unknown_ticket_field_is_named(tmp_path: Path) -> None:
    rules = copy_policy(tmp_path, """
[[cases]]
name = "typo"
now = "2026-03-02T10:00:00-05:00"
ticket = { stauts = "open" }
expect = { rules = [] }
""")
    with pytest.raises(PolicyError) as exc:
        load_cases(rules)
    assert exc.value.problems == [
        f'{rules / "tests" / "extra.toml"}: case "typo": ticket: unknown ticket field(s): stauts'
    ]
