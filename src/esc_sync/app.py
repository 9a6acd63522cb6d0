"""Assemble a runnable worker from a config file: policy, state, audit log, connectors."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from esc_sync.apply.bulk import BulkSettings
from esc_sync.apply.recorder import AuditLog
from esc_sync.clock import Clock, clock_from_env
from esc_sync.config import Config, load_config
from esc_sync.connectors import build_connector
from esc_sync.connectors.base import (
    BudgetSharing,
    CachingConnector,
    Connector,
    FieldDemand,
    ObservableConnector,
    PausingConnector,
)
from esc_sync.connectors.budget import AccountBudgets
from esc_sync.connectors.http import ResponseHook
from esc_sync.durations import parse_duration
from esc_sync.errors import ConfigError
from esc_sync.notify import unset_channels
from esc_sync.policy import Policy, load_policy
from esc_sync.state.cache import ConnectorCache
from esc_sync.state.open import open_store
from esc_sync.state.protocol import StateStore
from esc_sync.worker.cycle import Worker
from esc_sync.worker.reload import PolicyReloader


@dataclass
class App:
    """Everything one `esc-sync run` needs."""

    config: Config
    policy: Policy
    store: StateStore
    audit: AuditLog
    connectors: list[Connector]
    worker: Worker

    def close(self) -> None:
        """Release the state store."""
        self.store.close()

    def reload_policy(self) -> Policy:
        """Load the policy again and swap it in; raise PolicyError (old policy kept) if invalid."""
        policy = load_policy_for(self.config)
        self.use_policy(policy)
        return policy

    def use_policy(self, policy: Policy) -> None:
        """Make `policy` the running one: the worker and its clockwork read `worker.policy`."""
        self.policy = policy
        self.worker.policy = policy
        tell_fields(self.connectors, policy)

    def policy_reloader(self) -> PolicyReloader:
        """A reloader for the daemon: SIGHUP or a changed policy file swaps the policy."""
        return PolicyReloader(
            self.config.rules_path, lambda: load_policy_for(self.config), self.use_policy
        )


def _keep_alive(store: StateStore, name: str) -> ResponseHook:
    def hook(status: int, method: str, path: str) -> None:
        store.keep_alive(name)

    return hook


def tell_fields(connectors: list[Connector], policy: Policy) -> None:
    """Tell each connector that reads some fields only on demand which ones the rules read."""
    for connector in connectors:
        if isinstance(connector, FieldDemand):
            connector.use_fields(policy.fields_used())


def load_policy_for(config: Config) -> Policy:
    """The policy named by the config, with custom fields checked against every profile."""
    custom: set[str] = set()
    for profile in config.profiles:
        custom |= set(profile.custom_field_names)
    return load_policy(config.rules_path, custom_fields=custom)


def require_channel_addresses(
    policy: Policy, rules: Path, env: Mapping[str, str] | None = None
) -> None:
    """Every channel's variable must hold its address before the worker runs; the error names
    the channel and the variable, never a value."""
    variables = {name: channel.url_env for name, channel in policy.channels.items()}
    missing = unset_channels(variables, os.environ if env is None else env)
    if missing:
        raise ConfigError(
            [
                f'{rules}: channel "{name}": url_env: environment variable {var} is not set '
                "(export it with the channel's Apprise URL)"
                for name, var in missing
            ]
        )


def build_app(config_path: Path | str, clock: Clock | None = None) -> App:
    """Load and validate everything; raise ConfigError/PolicyError before touching a helpdesk.

    The clock is the system's unless given (or set by `ESC_SYNC_NOW`, see `esc_sync.clock`).
    """
    config = load_config(config_path)
    clock = clock if clock is not None else clock_from_env()
    policy = load_policy_for(config)
    worker_settings = config.settings.worker
    renew_every = worker_settings.ttl_seconds / 3  # as `keep_alive` renews at most this often
    store = open_store(
        config.state_url,
        worker_id=worker_settings.worker_id,
        lease_ttl=worker_settings.ttl_seconds,
    )
    audit = AuditLog(config.audit_path)
    connectors = [build_connector(p, now=clock) for p in config.profiles]
    tell_fields(connectors, policy)
    for connector in connectors:
        if isinstance(connector, ObservableConnector):  # answers received: the lease is alive
            connector.add_response_hook(_keep_alive(store, connector.name))
        if isinstance(connector, PausingConnector):  # pausing on purpose: alive as well
            connector.add_idle_hook(
                functools.partial(store.keep_alive, connector.name), renew_every
            )
        if isinstance(connector, CachingConnector):  # contacts and cursors kept between runs
            connector.use_cache(ConnectorCache(store, connector.name, clock))
        if isinstance(store, AccountBudgets) and isinstance(connector, BudgetSharing):
            connector.share_budget(store)  # several workers: one budget per helpdesk account
    worker = Worker(
        policy=policy,
        store=store,
        audit=audit,
        clock=clock,
        cycle_deadline=parse_duration(config.settings.worker.cycle_deadline),
        bulk=BulkSettings(
            threshold=config.settings.worker.bulk_threshold,
            wait=parse_duration(config.settings.worker.bulk_wait).total_seconds(),
            keep_alive_every=renew_every,
        ),
    )
    return App(config, policy, store, audit, connectors, worker)
