"""Logging configured in one place: loggers made before `configure` follow it, stdlib's too."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from esc_sync import logs
from esc_sync.connectors.budget import Budget


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """The test process's logging as it was before the test configured it."""
    saved = structlog.get_config()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_loggers_made_before_configure_write_json_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    budget = Budget(sleep=lambda _: None, name="acme")  # a connector's logger, bound early
    early = logs.get_logger("esc_sync.test", ticket=7)

    logs.configure("json", "info")
    budget.pause(2.0)
    early.debug("below the level")
    early.info("hello")
    logging.getLogger("urllib3.connectionpool").warning("Connection pool is full")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old API", DeprecationWarning, stacklevel=1)

    out, err = capsys.readouterr()
    assert out == ""
    events = [json.loads(line) for line in err.splitlines()]
    assert [(e["event"], e.get("connector"), e.get("ticket")) for e in events[:2]] == [
        ("http.shared_pause", "acme", None),
        ("hello", None, 7),
    ]
    assert events[2]["logger"] == "urllib3.connectionpool" and events[2]["level"] == "warning"
    assert events[3]["logger"] == "py.warnings" and "old API" in events[3]["event"]
    assert len(events) == 4


def test_configuring_again_replaces_the_stdlib_handler(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "info")
    logs.configure("console", "warning")
    logging.getLogger("esc_sync.test").info("quiet")
    logging.getLogger("esc_sync.test").warning("once")

    _, err = capsys.readouterr()
    assert err.count("once") == 1 and "quiet" not in err and not err.startswith("{")
