"""Session-wide: the default policy's notification channels point at a loopback receiver, so
every test that runs the default policy sends its messages somewhere real and fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from esc_sync.sandbox.receivers import JsonReceiver
from tests.channels import DEFAULT_CHANNEL_VARIABLES


@pytest.fixture(scope="session")
def channel_sink() -> Iterator[JsonReceiver]:
    """One JSON receiver for the default channels of the whole session."""
    with JsonReceiver() as sink:
        yield sink


@pytest.fixture(autouse=True)
def _default_channels(channel_sink: JsonReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point each default channel's variable at the session's receiver (a test may override)."""
    for var in DEFAULT_CHANNEL_VARIABLES:
        monkeypatch.setenv(var, channel_sink.url(var.lower()))
