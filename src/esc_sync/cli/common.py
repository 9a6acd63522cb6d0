"""What every verb shares: the typer apps, the consoles, exit codes, options and error mapping.

The verb modules (`run`, `state`, `rules`, `views`) register their commands on these apps;
this module imports none of them.

Exit codes (RULES.md): 0 ok, 1 validation or rule-test failure, 2 usage error, 3 helpdesk
unreachable or authentication refused, 4 `run --once` stopped before the feed's end (run again).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from esc_sync.clock import clock_from_env
from esc_sync.errors import AuthError, ConfigError, HelpdeskError, SchemaTooNew, StateError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_HELPDESK, EXIT_STOPPED = 0, 1, 2, 3, 4

app = typer.Typer(
    help="esc-sync: escalate helpdesk tickets by a policy kept in TOML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check the escalation policy.", no_args_is_help=True)
state_app = typer.Typer(help="Look into the state store.", no_args_is_help=True)
plan_app = typer.Typer(
    help="Review plans written by `run --dry-run --plan-out`.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
app.add_typer(state_app, name="state")
app.add_typer(plan_app, name="plan")

# Piped output (CI logs, files) gets a wide page instead of rich's 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="The worker config file.", show_default=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@contextmanager
def exits() -> Iterator[None]:
    """Map our typed errors onto exit codes and clear messages (never a stack trace)."""
    try:
        yield
    except ConfigError as exc:
        for line in exc.problems:
            err.print(f"[red]error:[/red] {line}", highlight=False, markup=True)
        raise typer.Exit(EXIT_INVALID) from None
    except AuthError as exc:
        err.print(f"[red]error:[/red] authentication refused: {exc}", highlight=False)
        raise typer.Exit(EXIT_HELPDESK) from None
    except HelpdeskError as exc:
        err.print(f"[red]error:[/red] helpdesk unreachable or failing: {exc}", highlight=False)
        raise typer.Exit(EXIT_HELPDESK) from None
    except SchemaTooNew as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except StateError as exc:  # the state database unreachable (or a lease lost at the end)
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_HELPDESK) from None


def usage_error(message: str) -> typer.Exit:
    """Print a usage error; the caller raises the returned exit (code 2)."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def clock_now() -> datetime:
    """The clock's reading (the system's, or `ESC_SYNC_NOW`'s; a bad value is a usage error)."""
    try:
        return clock_from_env()()
    except ConfigError as exc:
        raise usage_error(str(exc)) from None


def print_json(value: Any) -> None:
    """JSON on stdout, unstyled."""
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))
