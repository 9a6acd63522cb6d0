"""PolicyReloader: reload on request or file change; an invalid policy keeps the last good."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from esc_sync.policy import Policy, load_policy
from esc_sync.worker.reload import PolicyReloader, fingerprint, policy_files

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    """A private copy of the shipped policy."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def make(rules: Path) -> tuple[PolicyReloader, list[Policy]]:
    """A reloader over `rules` recording every applied policy."""
    applied: list[Policy] = []
    return PolicyReloader(rules, lambda: load_policy(rules), applied.append), applied


def touch(path: Path, text: str) -> None:
    """Write text and push the mtime forward so the change is seen even on coarse clocks."""
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_the_policy_files_include_templates(rules: Path) -> None:
    names = {p.name for p in policy_files(rules)}
    assert "triggers.toml" in names
    assert any(p.parent.name == "templates" for p in policy_files(rules))
    assert set(fingerprint(rules)) == {str(p) for p in policy_files(rules)}


def test_nothing_changed_nothing_happens(rules: Path) -> None:
    reloader, applied = make(rules)
    assert reloader.poll() is None
    assert applied == []


def test_a_request_reloads_even_without_a_change(rules: Path) -> None:
    reloader, applied = make(rules)
    reloader.request()
    assert reloader.poll() is True
    assert len(applied) == 1
    assert reloader.poll() is None  # the request is consumed


def test_a_changed_file_reloads(rules: Path) -> None:
    reloader, applied = make(rules)
    triggers = rules / "triggers.toml"
    before = len(load_policy(rules).rules)
    touch(triggers, triggers.read_text(encoding="utf-8") + '\n[[rules]]\nid = "x"\nname = "X"\n'
          'when.all = [{ field = "subject", matches = "x" }]\nthen.tags = ["esc-x"]\n')
    assert reloader.poll() is True
    assert len(applied[0].rules) == before + 1


def test_an_invalid_policy_is_rejected_with_every_problem_logged(rules: Path) -> None:
    reloader, applied = make(rules)
    triggers = rules / "triggers.toml"
    touch(triggers, triggers.read_text(encoding="utf-8") + '\n[[rules]]\nid = "bad"\nname = "B"\n'
          'when.all = [{ field = "nope", eq = 1 }, { field = "status", zz = 1 }]\n')
    with capture_logs() as logs:
        assert reloader.poll() is False
    assert applied == []
    problems = [e["problem"] for e in logs if e["event"] == "policy problem"]
    assert len(problems) >= 2
    assert any("nope" in p for p in problems) and any("zz" in p for p in problems)
    assert reloader.rejected == 1
    assert reloader.poll() is None  # not retried until the files change again
