"""The command line: run, demo, sandbox, rules check, state dead-letters.

Exit codes (RULES.md): 0 ok, 1 validation or rule-test failure, 2 usage error, 3 helpdesk
unreachable or authentication refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from esc_sync import logs
from esc_sync.errors import AuthError, ConfigError, HelpdeskError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_HELPDESK = 0, 1, 2, 3

app = typer.Typer(
    help="esc-sync: escalate helpdesk tickets by a policy kept in TOML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check the escalation policy.", no_args_is_help=True)
state_app = typer.Typer(help="Look into the state store.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(state_app, name="state")

# Piped output (CI logs, files) gets a wide page instead of rich's 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="The worker config file.", show_default=True)
]


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
    from esc_sync.app import build_app
    from esc_sync.report import print_report, summary_table
    from esc_sync.runview import RunObserver
    from esc_sync.worker.daemon import Daemon

    if plan_out is not None and not once:
        err.print("[red]error:[/red] --plan-out needs --once (one cycle, one plan)")
        raise typer.Exit(EXIT_USAGE)
    with exits():
        application = build_app(config)
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
                with observer.showing_progress():
                    for connector in connectors:
                        report = application.worker.run_cycle(connector, dry_run=dry)
                        observer.cycle_done(report)
                for report in observer.reports:
                    print_report(out, report)
                out.print(summary_table(observer.reports, observer.records))
                if plan_out is not None:
                    count = observer.write_plan(plan_out, application.worker.clock())
                    out.print(f"plan: {count} tickets written to {plan_out}", highlight=False)
                return
            daemon = Daemon(
                application.worker,
                connectors,
                interval_seconds=settings.worker.poll_every.total_seconds(),
                dry_run=dry,
                on_cycle=observer.cycle_done,
                reloader=application.policy_reloader(),
            )
            daemon.install_signal_handlers()
            code = daemon.run()
        finally:
            observer.close()
            application.close()
        if code:
            raise typer.Exit(code)


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


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="Policy folder or file.")] = Path("rules"),
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Also check custom fields against its profiles."),
    ] = None,
) -> None:
    """Validate the policy; exit 1 listing every problem with file, rule id and field."""
    from esc_sync.config import load_config
    from esc_sync.policy import load_policy

    with exits():
        custom: set[str] | None = None
        if config is not None:
            cfg = load_config(config, require_secrets=False)
            custom = {n for p in cfg.profiles for n in p.custom_field_names}
        policy = load_policy(path, custom_fields=custom)
        out.print(
            f"[green]ok[/green]: {path}: {len(policy.rules)} rules, {len(policy.tiers)} tiers, "
            f"{len(policy.playbooks)} playbooks, {len(policy.calendars)} calendars"
        )


@rules_app.command("test")
def rules_test(
    path: Annotated[Path, typer.Argument(help="Policy folder or file.")] = Path("rules"),
) -> None:
    """Run the rule tests in <policy>/tests/*.toml; exit 1 with a readable diff on failure."""
    from esc_sync.policy import load_policy
    from esc_sync.policy.ruletests import run_rule_tests

    with exits():
        policy = load_policy(path)
        results = run_rule_tests(policy, path)
        failed = [r for r in results if not r.passed]
        for r in results:
            mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
            out.print(f"{mark} {r.file}: {r.name}", highlight=False)
            for line in r.diff:
                out.print(f"     {line}", highlight=False, markup=False)
        out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed", highlight=False)
        if failed or not results:
            raise typer.Exit(EXIT_INVALID)


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


def main() -> None:
    """Entry point of the `esc-sync` command."""
    app(prog_name="esc-sync")


# The verbs rules explain|schema, plan diff, audit and report register themselves on the apps.
from esc_sync import cli_views as _views  # noqa: E402, F401
