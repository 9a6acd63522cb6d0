"""The verbs that look into the state store: state dead-letters (--retry runs them again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esc_sync import logs
from esc_sync.cli.common import EXIT_INVALID, ConfigOpt, exits, out, state_app


@state_app.command("dead-letters")
def dead_letters(
    config: ConfigOpt = Path("config.example.toml"),
    retry: Annotated[
        bool,
        typer.Option(
            "--retry", help="Re-read each listed ticket and run it once; clear successes."
        ),
    ] = False,
) -> None:
    """List tickets that could not be read or written, with the reason (--retry: run them)."""
    if retry:
        _retry_dead_letters(config)
        return
    from esc_sync.config import load_config
    from esc_sync.state.sqlite import Store

    with exits():
        cfg = load_config(config, require_secrets=False)
        store = Store(cfg.state_path)
        rows = store.dead_letters()
        store.close()
        if not rows:
            out.print("no dead letters")
        for row in rows:
            out.print(f"{row['at']}  {row['connector']}  ticket {row['ticket']}: {row['reason']}")


def _retry_dead_letters(config: Path) -> None:
    """Run every dead-lettered ticket through the worker once; exit 1 if some still fail."""
    from esc_sync.app import build_app
    from esc_sync.worker.deadletters import retry_dead_letters

    with exits():
        application = build_app(config)
        logs.configure(
            application.config.settings.log.format, application.config.settings.log.level
        )
        try:
            for connector in application.connectors:
                connector.check_auth()
            results = retry_dead_letters(
                application.worker, application.connectors, application.worker.clock()
            )
        finally:
            application.close()
        if not results:
            out.print("no dead letters")
        for r in results:
            mark = "retried" if r.ok else "still dead"
            out.print(f"{mark}  {r.connector}  ticket {r.ticket}: {r.detail}", highlight=False)
        failed = sum(1 for r in results if not r.ok)
        out.print(f"{len(results) - failed} retried, {failed} still dead", highlight=False)
        if failed:
            raise typer.Exit(EXIT_INVALID)
