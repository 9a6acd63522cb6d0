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


RT_PROFILE = (
    'type = "rt"\nbase_url = "http://127.0.0.1:8081"\ntoken_env = "T_TOKEN"\n'
    'email = "escalation-bot"\n[groups]\nt1 = "Support T1"\n'
    '[fields]\ntags = "Tags"\ntask_id = "Task Id"\nsatisfaction = "Satisfaction"\n'
    'organization_tags = "Customer Tags"\nrespond_by = "Respond By"\n'
    'refund_amount = "Refund Amount"\n'
)
RT_LEVELS = "[priorities]\nlow = 0\nnormal = 25\nhigh = 50\nurgent = 75\n"


def test_the_rt_example_profile_loads() -> None:
    from esc_sync.config import load_profile

    example = ROOT / "connectors" / "rt.example.toml"
    profile = load_profile(example, "rt", {"ESC_SYNC_RT_TOKEN": "t"})
    assert profile.type == "rt" and profile.groups["t4"] == "Support T4"
    assert profile.priorities == {"low": 0, "normal": 25, "high": 50, "urgent": 75}
    assert profile.custom_field_names == {"refund_amount": "Refund Amount"}


def test_rt_profile_maps_lifecycle_statuses_and_leaves_connector_roles_out_of_rules(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, CONFIG, RT_PROFILE + RT_LEVELS + '[statuses]\nwaiting = "pending"\n')
    profile = load_config(path, environ={"T_TOKEN": "x"}).profile("zd")
    assert profile.status_names == {"waiting": "pending"} and profile.statuses == {}
    assert profile.custom_field_names == {"refund_amount": "Refund Amount"}


def test_freshdesk_status_ids_stay_integers(tmp_path: Path) -> None:
    fd = PROFILE.replace('"zendesk"', '"freshdesk"') + '[statuses]\n6 = "on_hold"\n'
    profile = load_config(write(tmp_path, CONFIG, fd), environ={"T_TOKEN": "x"}).profile("zd")
    assert profile.statuses == {6: "on_hold"} and profile.status_names == {}


def test_rt_profile_without_priorities_or_email_names_the_file(tmp_path: Path) -> None:
    no_email = RT_PROFILE.replace('email = "escalation-bot"\n', "")
    path = write(tmp_path, CONFIG, no_email + "[priorities]\nlow = 0\nurgent = 75\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={"T_TOKEN": "x"})
    where = tmp_path / "p.toml"
    assert exc.value.problems == [
        f"{where}: email: required for rt (the RT user name of the token's owner, the bot)",
        f"{where}: priorities: required for rt: the RT Priority threshold of every level "
        "(missing: normal, high)",
    ]


def test_rt_priorities_must_rise(tmp_path: Path) -> None:
    levels = "[priorities]\nlow = 0\nnormal = 50\nhigh = 50\nurgent = 75\n"
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, CONFIG, RT_PROFILE + levels), environ={"T_TOKEN": "x"})
    assert "priorities: thresholds must rise from low to urgent" in exc.value.problems[0]


def test_webhooks_section_and_the_profile_secret(tmp_path: Path) -> None:
    profile = 'webhook_secret_env = "T_HOOK"\n' + PROFILE
    config = write(tmp_path, '[webhooks]\nlisten = "0.0.0.0:9000"\n' + CONFIG, profile)
    loaded = load_config(config, environ={"T_TOKEN": "tok", "T_HOOK": "hook-secret"})
    section = loaded.settings.webhooks
    assert section is not None and (section.host, section.port) == ("0.0.0.0", 9000)
    assert loaded.profiles[0].webhook_secret.get_secret_value() == "hook-secret"
    assert "hook-secret" not in repr(loaded.profiles[0])
    # no listener without the section; a named but unset variable means webhooks are refused
    plain = load_config(write(tmp_path, CONFIG, profile), environ={"T_TOKEN": "tok"})
    assert plain.settings.webhooks is None
    assert plain.profiles[0].webhook_secret.get_secret_value() == ""


def test_bad_listen_address_and_secret_in_toml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"webhooks\.listen"):
        load_config(write(tmp_path, '[webhooks]\nlisten = "8081"\n' + CONFIG, PROFILE),
                    environ={"T_TOKEN": "tok"})
    with pytest.raises(ConfigError, match="webhook_secret: not allowed"):
        load_config(write(tmp_path, CONFIG, 'webhook_secret = "x"\n' + PROFILE),
                    environ={"T_TOKEN": "tok"})
