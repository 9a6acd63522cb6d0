"""Worker config and connector profiles: precise errors, environment overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_sync.config import load_config
from esc_sync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp: Path, config: str, profile: str | None = None) -> Path:
    """A config (and profile) in a temp folder."""
    if profile is not None:
        (tmp / "p.toml").write_text(profile)
    path = tmp / "config.toml"
    path.write_text(config)
    return path


PROFILE = 'type = "zendesk"\nbase_url = "https://acme.zendesk.com/"\nemail = "b@acme.com"\n' \
    'token_env = "T_TOKEN"\n[groups]\nt2 = 2\n[fields]\nrefund_amount = 9\n'
CONFIG = '[[connectors]]\nname = "zd"\nprofile = "p.toml"\n'


def test_example_config_loads_with_its_token() -> None:
    cfg = load_config(ROOT / "config.example.toml", environ={"ESC_SYNC_SANDBOX_TOKEN": "s3cret"})
    profile = cfg.profile("sandbox")
    assert profile.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(profile) and "s3cret" not in str(cfg)
    assert cfg.rules_path == ROOT / "rules"
    assert profile.custom_field_names == {"refund_amount": 360010010}


def test_missing_token_names_the_profile_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG, PROFILE)
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={})
    assert exc.value.problems == [
        f"{tmp_path / 'p.toml'}: token_env: environment variable T_TOKEN is not set "
        "(it must hold the API token)"
    ]


def test_unknown_setting_and_bad_duration_are_both_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[worker]\npoll_intervall = "30s"\ncycle_deadline = "ten"\n' + CONFIG,
                 PROFILE)
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={"T_TOKEN": "x"})
    text = "\n".join(exc.value.problems)
    assert f"{path}: worker.poll_intervall: unknown setting" in text
    assert f"{path}: worker.cycle_deadline:" in text and "invalid duration" in text


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in exc.value.problems[0] and "line 1" in exc.value.problems[0]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, CONFIG, PROFILE)
    monkeypatch.setenv("ESC_SYNC_WORKER__DRY_RUN", "true")
    cfg = load_config(path, environ={"T_TOKEN": "x"})
    assert cfg.settings.worker.dry_run is True
    assert cfg.profile("zd").base_url == "https://acme.zendesk.com"
