"""The worker config (config.example.toml) and connector profiles (connectors/*.toml).

TOML is read here, validated with pydantic, and may be overridden from the environment
(`ESC_SYNC_WORKER__DRY_RUN=true`). Secrets never live in TOML: a profile names the environment
variable that holds the token, and the token is kept as a `SecretStr`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from esc_sync.durations import parse_duration
from esc_sync.errors import ConfigError

WRITE_BACK_ROLES = ("escalation_status", "respond_by", "resolve_by")
# Profile field names a connector reads for its own purposes (not rule custom fields).
CONNECTOR_ROLES = ("tags", "task_id", "satisfaction", "organization_tags")
ModelStatus = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
PriorityLevel = Literal["low", "normal", "high", "urgent"]
PRIORITY_LEVELS: tuple[PriorityLevel, ...] = ("low", "normal", "high", "urgent")


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


class WorkerSection(BaseModel):
    """`[worker]`: how the daemon runs."""

    model_config = ConfigDict(extra="forbid")

    poll_interval: str = "30s"
    dry_run: bool = False
    rules: str = "rules"
    state: str = "sqlite:///esc-sync.db"
    audit_log: str = "esc-sync-audit.jsonl"
    cycle_deadline: str = "10m"
    # A page with at least this many tickets to write uses the helpdesk's bulk jobs (Zendesk).
    bulk_threshold: int = Field(default=20, ge=1)
    bulk_wait: str = "5m"  # how long to follow a bulk job before leaving it to recovery
    # Several workers on PostgreSQL: who this worker is, and how long its leases last unrenewed.
    worker_id: str = ""
    lease_ttl: str = "30s"

    _durations = field_validator("poll_interval", "cycle_deadline", "bulk_wait", "lease_ttl")(
        _check_duration
    )

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            return value
        if value.startswith(("postgresql://", "postgres://")):
            if url_has_password(value):
                # never echo the value: it holds a secret
                raise ValueError(
                    "the PostgreSQL URL must not carry a password: put it in PGPASSWORD or "
                    "~/.pgpass (libpq reads both)"
                )
            return value
        raise ValueError('expected "sqlite:///PATH" or "postgresql://USER@HOST:PORT/DBNAME"')

    @property
    def ttl_seconds(self) -> float:
        """The lease TTL in seconds."""
        return parse_duration(self.lease_ttl).total_seconds()

    @property
    def poll_every(self) -> timedelta:
        """The poll interval as a timedelta."""
        return parse_duration(self.poll_interval)


def url_has_password(url: str) -> bool:
    """Whether a libpq URL carries a password (in the authority or as a parameter)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    return parts.password is not None or "password" in parse_qs(parts.query)


class LogSection(BaseModel):
    """`[log]`: format and level."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class WebhooksSection(BaseModel):
    """`[webhooks]`: where `esc-sync run` listens for signed pokes (put TLS in front)."""

    model_config = ConfigDict(extra="forbid")

    listen: str = Field(
        default="127.0.0.1:8081", pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$"
    )
    # distinct tickets waiting to be re-read, over all connectors; beyond it pokes get 429
    queue_size: int = Field(default=10_000, ge=1)

    @property
    def host(self) -> str:
        """The address to bind (brackets of an IPv6 literal removed)."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        """The TCP port to bind (0 picks a free one)."""
        port = int(self.listen.rsplit(":", 1)[1])
        if port > 65535:
            raise ValueError(f"port {port} is out of range")
        return port


class ConnectorRef(BaseModel):
    """`[[connectors]]`: a named helpdesk instance and its profile file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    profile: str


class Settings(BaseSettings):
    """The whole worker config; the environment overrides the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="ESC_SYNC_", env_nested_delimiter="__", extra="forbid"
    )

    worker: WorkerSection = WorkerSection()
    log: LogSection = LogSection()
    webhooks: WebhooksSection | None = None  # absent: no listener, polling only
    connectors: list[ConnectorRef] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the TOML values passed in."""
        return (env_settings, init_settings)


class ConnectorProfile(BaseModel):
    """One helpdesk instance: where it is, how to authenticate, how its ids map to ours."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["zendesk", "freshdesk", "rt"]
    # RT may live under a path (https://host/rt); Zendesk and Freshdesk at their host's root.
    base_url: str = Field(pattern=r"^https?://[^\s/?#]+(:\d+)?(/[^\s?#]*)?$")
    email: str | None = None
    token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    start: str = "7d"
    groups: dict[str, int | str] = Field(default_factory=dict)
    fields: dict[str, int | str] = Field(default_factory=dict)
    # `[statuses]` -> model status. Numeric keys are Freshdesk custom status ids (>= 6; 2-5 are
    # fixed); names are RT lifecycle statuses, kept lower-case in `status_names` (see _split).
    statuses: dict[int, ModelStatus] = Field(default_factory=dict)
    status_names: dict[str, ModelStatus] = Field(default_factory=dict)
    # RT: the Priority threshold of each level (the highest threshold <= Priority wins).
    priorities: dict[PriorityLevel, int] = Field(default_factory=dict)
    bot_user_id: int | None = None
    # the variable holding the webhook secret (Zendesk: the signing secret; others: the value
    # of the X-Esc-Sync-Secret header); none set means webhooks for this connector are refused
    webhook_secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: tuple[float, float] = (5.0, 60.0)
    page_size: int = Field(default=1000, ge=1, le=1000)
    max_retries: int = Field(default=5, ge=0, le=20)
    # Filled in at load time, never read from TOML.
    name: str = ""
    token: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    path: str = ""

    _start = field_validator("start")(_check_duration)

    @model_validator(mode="before")
    @classmethod
    def _split_statuses(cls, data: Any) -> Any:
        """`[statuses]` keys are strings in TOML: numbers are Freshdesk ids, names RT statuses."""
        if not isinstance(data, dict) or not isinstance(data.get("statuses"), dict):
            return data
        ids: dict[Any, Any] = {}
        names: dict[str, Any] = dict(data.get("status_names") or {})
        for key, status in data["statuses"].items():
            text = str(key).strip()
            if isinstance(key, int) or text.isdigit():
                ids[key] = status
            else:
                names[text.lower()] = status
        return {**data, "statuses": ids, "status_names": names}

    @property
    def start_window(self) -> timedelta:
        """How far back the first run reads."""
        return parse_duration(self.start)

    @property
    def custom_field_names(self) -> dict[str, int | str]:
        """Profile fields readable in rules as `custom.<name>` (write-back and connector roles
        excluded)."""
        roles = (*WRITE_BACK_ROLES, *CONNECTOR_ROLES)
        return {k: v for k, v in self.fields.items() if k not in roles}

    def ticket_url(self, ticket_id: int) -> str:
        """The agent's link to a ticket in this helpdesk (notifications carry it)."""
        base = self.base_url.rstrip("/")
        if self.type == "zendesk":
            return f"{base}/agent/tickets/{ticket_id}"
        if self.type == "freshdesk":
            return f"{base}/a/tickets/{ticket_id}"
        return f"{base}/Ticket/Display.html?id={ticket_id}"

    def tier_of_group(self, group: int | str | None) -> str | None:
        """The tier whose group this is, or None."""
        if group is None:
            return None
        for tier, gid in self.groups.items():
            if str(gid) == str(group):
                return tier
        return None


class Config(BaseModel):
    """A loaded, validated worker config with its profiles and resolved paths."""

    path: Path
    settings: Settings
    profiles: list[ConnectorProfile]

    @property
    def base_dir(self) -> Path:
        """The folder the config file lives in; relative paths start here."""
        return self.path.parent

    @property
    def rules_path(self) -> Path:
        """The policy file or folder."""
        return self.base_dir / self.settings.worker.rules

    @property
    def state_url(self) -> str:
        """The state store: a PostgreSQL URL as written, or `sqlite:///` + the resolved file."""
        raw = self.settings.worker.state
        if raw.startswith("sqlite:///"):
            return f"sqlite:///{self.state_path}"
        return raw

    @property
    def state_path(self) -> Path:
        """The SQLite file of the state store."""
        raw = self.settings.worker.state.removeprefix("sqlite:///")
        return Path(raw) if Path(raw).is_absolute() else self.base_dir / raw

    @property
    def audit_path(self) -> Path:
        """The JSON-lines audit log."""
        raw = Path(self.settings.worker.audit_log)
        return raw if raw.is_absolute() else self.base_dir / raw

    def profile(self, name: str | None) -> ConnectorProfile:
        """The profile of the named connector (the first when no name is given)."""
        if name is None:
            return self.profiles[0]
        for p in self.profiles:
            if p.name == name:
                return p
        raise ConfigError(f"{self.path}: no connector named {name!r}")


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file, line and column."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None


def describe_validation(path: Path | str, exc: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into lines of `file: key.path: reason`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = (prefix + loc).replace(".[", "[")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif err["type"] == "missing":
            msg = "required setting is missing"
        lines.append(f"{path}: {loc}: {msg}")
    return lines


def _rt_problems(path: Path, profile: ConnectorProfile) -> list[str]:
    """What an RT profile must say beyond the common settings."""
    problems: list[str] = []
    if not profile.email:
        problems.append(
            f"{path}: email: required for rt (the RT user name of the token's owner, the bot)"
        )
    missing = [level for level in PRIORITY_LEVELS if level not in profile.priorities]
    if missing:
        problems.append(
            f"{path}: priorities: required for rt: the RT Priority threshold of every level "
            f"(missing: {', '.join(missing)})"
        )
    else:
        values = [profile.priorities[level] for level in PRIORITY_LEVELS]
        if any(b <= a for a, b in pairwise(values)):
            problems.append(
                f"{path}: priorities: thresholds must rise from low to urgent (got {values})"
            )
    return problems


def load_profile(
    path: Path,
    name: str,
    environ: Mapping[str, str] | None = None,
    require_secrets: bool = True,
) -> ConnectorProfile:
    """Load one connector profile and pick its token from the environment."""
    env = os.environ if environ is None else environ
    raw = read_toml(path)
    for reserved in ("name", "token", "path", "webhook_secret"):
        if reserved in raw:
            raise ConfigError(f"{path}: {reserved}: not allowed in a profile")
    try:
        profile = ConnectorProfile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation(path, exc)) from None
    problems = []
    if profile.type != "rt" and urlsplit(profile.base_url).path.strip("/"):
        problems.append(
            f"{path}: base_url: {profile.type} answers at the root of its host: drop the path "
            f"(only rt may live under one, like https://host/rt)"
        )
    if profile.type == "zendesk" and not profile.email:
        problems.append(f"{path}: email: required for zendesk (API token auth is email/token)")
    if profile.type == "rt":
        problems.extend(_rt_problems(path, profile))
    token = env.get(profile.token_env, "")
    if not token and require_secrets:
        problems.append(
            f"{path}: token_env: environment variable {profile.token_env} is not set "
            "(it must hold the API token)"
        )
    if problems:
        raise ConfigError(problems)
    hook_secret = env.get(profile.webhook_secret_env, "") if profile.webhook_secret_env else ""
    return profile.model_copy(
        update={
            "name": name,
            "token": SecretStr(token),
            "webhook_secret": SecretStr(hook_secret),
            "path": str(path),
            "base_url": profile.base_url.rstrip("/"),
        }
    )


def load_config(
    path: Path | str, environ: Mapping[str, str] | None = None, require_secrets: bool = True
) -> Config:
    """Load the worker config and every connector profile it names; report all problems."""
    path = Path(path)
    raw = read_toml(path)
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation(path, exc)) from None
    if not settings.connectors:
        raise ConfigError(f"{path}: connectors: at least one [[connectors]] entry is required")
    problems: list[str] = []
    profiles = []
    seen: set[str] = set()
    for i, ref in enumerate(settings.connectors):
        if ref.name in seen:
            problems.append(f"{path}: connectors[{i}].name: duplicate connector {ref.name!r}")
        seen.add(ref.name)
        try:
            profiles.append(
                load_profile(path.parent / ref.profile, ref.name, environ, require_secrets)
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return Config(path=path, settings=settings, profiles=profiles)
