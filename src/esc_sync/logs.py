"""Logging in one place: structlog events, readable on a terminal, JSON otherwise.

`configure` sets up structlog and the standard library's `logging` (urllib3, the sandbox,
`warnings`) alike: one stderr stream, one renderer, one level. Loggers are made with
`get_logger`, which assembles the logger each time it logs, from the configuration of that
moment: a connector built before `configure` ran (the CLI reads the log settings from the
same config that builds the connectors) still logs in the configured format, to stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import structlog
from structlog.typing import FilteringBoundLogger, Processor

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def get_logger(name: str, **context: Any) -> FilteringBoundLogger:
    """A logger carrying `context` (such as `connector=`), configured when it logs, not before.

    Never `.bind()` one in a constructor or at import: binding assembles a logger from the
    configuration of that moment (before `configure`: console format on stdout, no level).
    """
    return cast(FilteringBoundLogger, structlog.get_logger(name, **context))


class _StdlibHandler(logging.StreamHandler[TextIO]):
    """The root logger's handler installed by `configure` (replaced when it runs again)."""


def configure(fmt: str = "auto", level: str = "info") -> None:
    """Configure structlog and stdlib logging for the process (stderr; console or JSON)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    threshold = LEVELS.get(level, logging.INFO)
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not use_console:  # a traceback inside the JSON object, not lines after it
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configure_stdlib(shared, renderer, threshold)


def _configure_stdlib(shared: list[Processor], renderer: Processor, threshold: int) -> None:
    """Route stdlib records (and `warnings`) through the same processors and renderer."""
    handler = _StdlibHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    logging.captureWarnings(True)
