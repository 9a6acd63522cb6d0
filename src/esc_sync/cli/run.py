"""The verbs that run something: run (the worker), demo, sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from esc_sync import logs
from esc_sync.cli.common import EXIT_STOPPED, EXIT_USAGE, ConfigOpt, app, err, exits, out

if TYPE_CHECKING:
    from esc_sync.app import App
    from esc_sync.connectors.base import Connector
    from esc_sync.runview import RunObserver
    from esc_sync.webhooks.queue import Pokes
    from esc_sync.webhooks.server import WebhookServer


@app.command()
def run(
    config: ConfigOpt = Path("config.example.toml"),
    once: Annotated[bool, typer.Option("--once", help="Run a single cycle, then exit.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and decide, but write nothing to the helpdesk.")
    ] = False,
    plan_out: Annotated[
        Path | None,
        typer.Option("--plan-out", help="With --once: write the plan as JSON to this file."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve Prometheus /metrics and /healthz on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address for --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Run the worker: as a daemon, or one cycle with --once."""
    from esc_sync.app import build_app, require_channel_addresses
    from esc_sync.report import print_report, summary_table
    from esc_sync.runview import RunObserver
    from esc_sync.worker.daemon import Daemon

    if plan_out is not None and not once:
        err.print("[red]error:[/red] --plan-out needs --once (one cycle, one plan)")
        raise typer.Exit(EXIT_USAGE)
    with exits():
        application = build_app(config)
        try:
            require_channel_addresses(application.policy, application.config.rules_path)
        except Exception:
            application.close()
            raise
        settings = application.config.settings
        logs.configure(settings.log.format, settings.log.level)
        dry = dry_run or settings.worker.dry_run
        try:
            observer = RunObserver(
                application,
                err,
                keep_records=once,
                metrics_port=metrics_port,
                metrics_host=metrics_host,
            )
        except OSError as exc:
            application.close()
            err.print(f"[red]error:[/red] --metrics-port {metrics_port}: {exc}")
            raise typer.Exit(EXIT_USAGE) from None
        connectors = observer.connectors
        try:
            for connector in connectors:
                connector.check_auth()
            if once:
                held = _leases_for_once(application, connectors, dry)
                with observer.showing_progress():
                    for connector in connectors:
                        if connector.name not in held:
                            continue
                        report = application.worker.run_cycle(connector, dry_run=dry)
                        observer.cycle_done(report)
                for report in observer.reports:
                    print_report(out, report)
                out.print(summary_table(observer.reports, observer.records))
                if plan_out is not None:
                    count = observer.write_plan(plan_out, application.worker.clock())
                    out.print(f"plan: {count} tickets written to {plan_out}", highlight=False)
                if any(r.stopped_early for r in observer.reports):
                    err.print("stopped early: the feed was not read to its end; run again")
                    raise typer.Exit(EXIT_STOPPED)
                return
            pokes, listener = _listen(application, observer, dry)
            daemon = Daemon(
                application.worker,
                connectors,
                interval_seconds=settings.worker.poll_every.total_seconds(),
                dry_run=dry,
                on_cycle=observer.cycle_done,
                reloader=application.policy_reloader(),
                lease_ttl=settings.worker.ttl_seconds,
                pokes=pokes,
            )
            daemon.install_signal_handlers()
            try:
                code = daemon.run()
            finally:
                if listener is not None:
                    listener.stop()
        finally:
            observer.close()
            application.close()
        if code:
            raise typer.Exit(code)


def _leases_for_once(application: App, connectors: Sequence[Connector], dry: bool) -> set[str]:
    """The connectors a single cycle may run: all when dry (it writes nothing), else those
    whose leases this worker can take (on SQLite, all); says which another worker runs."""
    names = [c.name for c in connectors]
    if dry:
        return set(names)
    held = set(application.store.balance(names))
    owners = {r["connector"]: r["holder"] for r in application.store.lease_status()}
    for name in names:
        if name not in held:
            err.print(
                f"connector {name}: run by worker {owners.get(name) or '?'} now; skipped",
                highlight=False,
            )
    return held


def _listen(
    application: App, observer: RunObserver, dry: bool
) -> tuple[Pokes | None, WebhookServer | None]:
    """Start the `[webhooks]` listener when the config has one (exit 2 if it cannot bind).

    With several workers (a store that keeps pokes) a poke goes to the shared state, where
    the connector's lease holder takes it; a dry run keeps its pokes to itself."""
    from esc_sync.runview import health_bound
    from esc_sync.webhooks.server import serve_webhooks
    from esc_sync.worker.pokes import PokeStore, SharedPokes

    section = application.config.settings.webhooks
    if section is None:
        return None, None
    metrics = observer.metrics
    names = [c.name for c in application.connectors]
    store = application.store
    shared = None
    if not dry and hasattr(store, "add_poke"):
        shared = SharedPokes(cast("PokeStore", store), section.queue_size)
    try:
        return serve_webhooks(
            section.host,
            section.port,
            application.config.profiles,
            application.worker.clock,
            queue_size=section.queue_size,
            metrics=metrics.exposition if metrics else None,
            health=(lambda: metrics.health(health_bound(application), names)) if metrics else None,
            on_answer=metrics.on_webhook if metrics else None,
            pokes=shared,
        )
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] [webhooks] listen = {section.listen!r}: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Sandbox port (0 picks a free one).")] = 0,
    rules: Annotated[Path, typer.Option(help="The policy folder to run.")] = Path("rules"),
    dialect: Annotated[
        str, typer.Option(help="Sandbox API dialect: zendesk or freshdesk.")
    ] = "zendesk",
) -> None:
    """Start the sandbox helpdesk, show the dry-run plan, apply it, and show what changed."""
    from esc_sync.demo import run_demo

    if dialect not in ("zendesk", "freshdesk"):
        err.print(f"[red]error:[/red] --dialect {dialect!r}: use zendesk or freshdesk")
        raise typer.Exit(EXIT_USAGE)
    with exits():
        logs.configure("console", "warning")
        run_demo(out, port=port, rules=rules, dialect=dialect)


@app.command()
def sandbox(
    dialect: Annotated[str, typer.Option(help="API dialect: zendesk or freshdesk.")] = "zendesk",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    tickets: Annotated[int, typer.Option(help="How many tickets to seed (at least 60).")] = 64,
    token: Annotated[
        str, typer.Option(help="The API token the sandbox accepts.")
    ] = "sandbox-token",
) -> None:
    """Serve a local helpdesk that speaks the vendor API, seeded with realistic tickets."""
    if dialect not in ("zendesk", "freshdesk"):
        err.print(f"[red]error:[/red] --dialect {dialect!r}: use zendesk or freshdesk")
        raise typer.Exit(EXIT_USAGE)
    from esc_sync.clock import clock_from_env
    from esc_sync.sandbox import serve

    with exits():
        now = clock_from_env()()  # ESC_SYNC_NOW seeds the sandbox at that hour
    serve(port=port, tickets=tickets, token=token, dialect=dialect, now=now)
