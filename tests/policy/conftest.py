"""Fixtures for the policy tests: small policies in tmp_path and the shipped rules/ folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esc_sync.policy import Policy, load_policy

from .stories import RULES_DIR, TIERS, write


@pytest.fixture
def policy_from(tmp_path: Path) -> Any:
    """Build a policy from rule TOML, on top of three tiers and a few playbooks."""

    def build(rules: str, *, custom_fields: Any = None, templates: bool = True) -> Policy:
        write(tmp_path, "tiers.toml", TIERS)
        write(tmp_path, "rules.toml", rules)
        if templates:
            write(tmp_path, "templates/briefing.md.j2", "{{ marker }}\n")
            write(tmp_path, "templates/transfer.md.j2", "We are bringing someone in.\n")
        return load_policy(tmp_path, custom_fields=custom_fields)

    return build


@pytest.fixture
def default_policy() -> Policy:
    """The shipped rules/ folder, with the sandbox profile's custom field."""
    return load_policy(RULES_DIR, custom_fields={"refund_amount"})
