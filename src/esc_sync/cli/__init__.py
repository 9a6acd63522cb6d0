"""The command line: run, demo, sandbox, audit, report, rules, state and plan verbs.

`common` holds the typer apps; each verb module registers its commands on them and imports
only `common`. Importing the verb modules here registers the verbs (the help lists them in
registration order: `run` before `views`). `main` is the `esc-sync` entry point.
"""

from __future__ import annotations

from esc_sync.cli import notify, rules, run, state, views  # noqa: F401 (registers the verbs)
from esc_sync.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `esc-sync` command."""
    app(prog_name="esc-sync")
