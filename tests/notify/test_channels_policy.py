"""Channels in the policy: precise problems from `rules check`, and `run` refusing to start
while a channel's variable is unset (naming the channel and the variable, never a URL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from esc_sync.app import require_channel_addresses
from esc_sync.errors import ConfigError, PolicyError
from esc_sync.policy import load_policy

RULES = Path(__file__).resolve().parents[2] / "rules"


def policy_with(tmp_path: Path, channels: str, tier_notify: str = '["team-leads"]') -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "channels.toml").write_text(channels)
    tiers = (rules / "tiers.toml").read_text()
    tiers = tiers.replace('notify = ["team-leads"]', f"notify = {tier_notify}")
    (rules / "tiers.toml").write_text(tiers)
    return rules


GOOD = """
[channels.team-leads]
url_env = "ESC_SYNC_NOTIFY_TEAM_LEADS"
[channels.specialists]
url_env = "ESC_SYNC_NOTIFY_SPECIALISTS"
[channels.legal]
url_env = "ESC_SYNC_NOTIFY_LEGAL"
"""


def problems(rules: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(rules)
    return caught.value.problems


def test_an_unknown_channel_in_a_tier_is_named_with_file_tier_and_field(tmp_path: Path) -> None:
    rules = policy_with(tmp_path, GOOD, '["team-lead"]')
    assert any(
        p.endswith('tiers.toml: tier "t2": notify[0]: unknown channel "team-lead" '
                   '(did you mean "team-leads"?); use: team-leads, specialists, legal')
        for p in problems(rules)
    ), problems(rules)


def test_a_missing_url_env_and_a_bad_template_are_named(tmp_path: Path) -> None:
    rules = policy_with(tmp_path, GOOD.replace('url_env = "ESC_SYNC_NOTIFY_LEGAL"',
                                               'template = "notfy"'))
    found = problems(rules)
    assert any('channels.toml: channel "legal": missing required key "url_env"' in p
               for p in found), found
    rules = policy_with(tmp_path / "b", GOOD + 'template = "notfy"\n')
    found = problems(rules)
    assert any('channel "legal": template: unknown template "notfy" (did you mean "notify"?)' in p
               for p in found), found


def test_an_unused_channel_is_a_warning(tmp_path: Path) -> None:
    rules = policy_with(tmp_path, GOOD + '[channels.nobody]\nurl_env = "X_NOBODY"\n')
    policy = load_policy(rules)
    assert any('channel "nobody": unused channel' in w for w in policy.warnings)


def test_run_refuses_to_start_naming_the_channel_whose_variable_is_unset() -> None:
    policy = load_policy(RULES)
    env = {"ESC_SYNC_NOTIFY_TEAM_LEADS": "mailto://u:topsecret@example.test",
           "ESC_SYNC_NOTIFY_LEGAL": "json://example.test/x"}
    with pytest.raises(ConfigError) as caught:
        require_channel_addresses(policy, RULES, env)
    text = str(caught.value)
    expected = 'channel "specialists": url_env: environment variable ESC_SYNC_NOTIFY_SPECIALISTS'
    assert expected in text
    assert "topsecret" not in text and "team-leads" not in text
