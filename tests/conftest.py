"""Session-wide: the default policy's notification channels point at a loopback receiver, so
every test that runs the default policy (in process or as a child `esc-sync`) sends its
messages somewhere real and fast. Session-scoped and set in the process environment itself, so
module- and package-scoped fixtures that run the CLI (the live RT suite) have them too; a test
may still override one with monkeypatch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from esc_sync.sandbox.receivers import JsonReceiver
from tests.channels import default_channels


@pytest.fixture(scope="session", autouse=True)
def channel_sink() -> Iterator[JsonReceiver]:
    """One JSON receiver for the default channels of the whole session."""
    with default_channels() as sink:
        yield sink
