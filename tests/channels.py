"""The default policy's notification channels, pointed at a loopback JSON receiver.

The shipped policy (rules/channels.toml) names three channels whose addresses live in
environment variables; `esc-sync run` refuses to start while one is unset. Tests get them from
the session fixture in tests/conftest.py; benches wrap their runs in `default_channels()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from esc_sync.sandbox.receivers import JsonReceiver

DEFAULT_CHANNEL_VARIABLES = (
    "ESC_SYNC_NOTIFY_TEAM_LEADS",
    "ESC_SYNC_NOTIFY_SPECIALISTS",
    "ESC_SYNC_NOTIFY_LEGAL",
)


@contextmanager
def default_channels() -> Iterator[JsonReceiver]:
    """Set the default channels' variables (for this process and its children) to a receiver."""
    saved = {var: os.environ.get(var) for var in DEFAULT_CHANNEL_VARIABLES}
    with JsonReceiver() as sink:
        for var in DEFAULT_CHANNEL_VARIABLES:
            os.environ[var] = sink.url(var.lower())
        try:
            yield sink
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
