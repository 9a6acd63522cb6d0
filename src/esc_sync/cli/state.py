"""The verbs that look into the state store: state status, state migrate, state dead-letters
(--retry runs them again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esc_sync import logs
from esc_sync.cli.common import (
    EXIT_INVALID,
    ConfigOpt,
    JsonOpt,
    exits,
    out,
    print_json,
    state_app,
    usage_error,
)


@state_app.command("status")
def status(config: ConfigOpt = Path("config.example.toml"), as_json: JsonOpt = False) -> None:
    """Each connector: the worker holding its lease, the lease's expiry, and its bookmark."""
    from esc_sync.config import load_config
    from esc_sync.state.open import is_postgres, open_store

    with exits():
        cfg = load_config(config, require_secrets=False)
        store = open_store(cfg.state_url, worker_id="esc-sync state status")
        try:
            leases = {row["connector"]: row for row in store.lease_status()}
            bookmarks = store.bookmarks()
            workers = store.live_workers()
        finally:
            store.close()
        shared = is_postgres(cfg.state_url)
        names = [p.name for p in cfg.profiles]
        names += sorted((set(leases) | set(bookmarks)) - set(names))
        rows = []
        for name in names:
            lease = leases.get(name, {})
            rows.append(
                {
                    "connector": name,
                    "holder": lease.get("holder") if shared else "this worker (SQLite)",
                    "lease_expires_at": lease.get("expires_at") if lease.get("live") else None,
                    "token": lease.get("token"),
                    "bookmark": bookmarks.get(name),
                }
            )
        if as_json:
            print_json(
                {
                    "backend": "postgresql" if shared else "sqlite",
                    "workers": workers,
                    "connectors": rows,
                }
            )
            return
        from rich.table import Table

        table = Table("connector", "holder", "lease expires", "bookmark")
        for row in rows:
            table.add_row(
                row["connector"],
                row["holder"] or "[dim]nobody[/dim]",
                row["lease_expires_at"] or "-",
                _short(row["bookmark"]),
            )
        out.print(table)
        if shared:
            out.print(f"live workers: {', '.join(workers) or 'none'}", highlight=False)


def _short(bookmark: str | None, width: int = 60) -> str:
    if bookmark is None:
        return "-"
    return bookmark if len(bookmark) <= width else bookmark[: width - 1] + "…"


@state_app.command("migrate")
def migrate(
    to: Annotated[str, typer.Option("--to", help="The target state: postgresql://USER@HOST/DB.")],
    config: ConfigOpt = Path("config.example.toml"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace a target that already holds a state.")
    ] = False,
) -> None:
    """Copy the config's SQLite state into PostgreSQL (stop the worker first)."""
    from esc_sync.config import load_config, url_has_password
    from esc_sync.state.open import is_postgres
    from esc_sync.state.postgres import PgStore
    from esc_sync.state.transfer import copy_sqlite_to_postgres

    if not is_postgres(to):
        raise usage_error("--to: give a postgresql://USER@HOST:PORT/DBNAME URL")
    if url_has_password(to):
        raise usage_error("--to: no password in the URL; libpq reads PGPASSWORD or ~/.pgpass")
    with exits():
        cfg = load_config(config, require_secrets=False)
        if is_postgres(cfg.state_url):
            raise usage_error("the config's state is already PostgreSQL: nothing to migrate")
        target = PgStore(to, worker_id="esc-sync state migrate")
        try:
            copied = copy_sqlite_to_postgres(cfg.state_path, target, replace=force)
        finally:
            target.close()
        parts = ", ".join(f"{table} {n}" for table, n in copied.rows.items())
        out.print(
            f"copied {copied.total} rows from {cfg.state_path} to {target.where}: {parts}",
            highlight=False,
        )
        out.print("now set [worker] state to the new URL and start the workers", highlight=False)


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
    from esc_sync.state.open import open_store

    with exits():
        cfg = load_config(config, require_secrets=False)
        store = open_store(cfg.state_url, worker_id="esc-sync state dead-letters")
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
