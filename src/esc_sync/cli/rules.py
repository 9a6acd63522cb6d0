"""The verbs about the policy: rules check, test, explain and schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from esc_sync.cli.common import (
    EXIT_INVALID,
    ConfigOpt,
    JsonOpt,
    clock_now,
    exits,
    out,
    print_json,
    rules_app,
    usage_error,
)
from esc_sync.clock import clock_from_env


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
        for warning in policy.warnings:
            out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        out.print(
            f"[green]ok[/green]: {path}: {len(policy.rules)} rules, {len(policy.tiers)} tiers, "
            f"{len(policy.playbooks)} playbooks, {len(policy.calendars)} calendars, "
            f"{len(policy.channels)} channels, SLA profiles: {len(policy.profiles)}"
        )
        if config is not None:
            _supply_report(policy.fields_used(), cfg.profiles)


def _supply_report(used: frozenset[str], profiles: list[Any]) -> None:
    """Per connector: the fields the policy reads that it cannot supply (unknown to rules),
    and those it supplies only at extra requests."""
    from esc_sync.connectors.supply import supply_of

    for profile in profiles:
        unsupplied, extra = supply_of(profile).report(used)
        out.print(f"connector {profile.name} ({profile.type}):", highlight=False, markup=False)
        if not unsupplied and not extra:
            out.print("  every field the policy reads is supplied", highlight=False)
        for name, why in unsupplied.items():
            out.print(f"  unknown  {name}: {why}", highlight=False, markup=False)
        for name, cost in extra.items():
            out.print(f"  extra    {name}: {cost}", highlight=False, markup=False)


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


@rules_app.command("explain")
def rules_explain(
    ticket_id: Annotated[int, typer.Argument(help="The helpdesk's ticket id.")],
    connector: Annotated[
        str | None, typer.Option("--connector", help="Connector name (default: the first).")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Evaluate at this ISO-8601 time (default: now).")
    ] = None,
    config: ConfigOpt = Path("config.example.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Why a ticket is or is not escalated: every rule, every condition, the value seen."""
    from esc_sync.app import load_policy_for
    from esc_sync.config import load_config
    from esc_sync.connectors import build_connector
    from esc_sync.connectors.base import CachingConnector
    from esc_sync.errors import SkippableError
    from esc_sync.explain import as_json as explanation_json
    from esc_sync.explain import explain_ticket, parse_at, render
    from esc_sync.state.cache import ReadThroughCache
    from esc_sync.state.open import is_postgres, open_store

    try:
        now = parse_at(at, clock_now())
    except ValueError:
        raise usage_error(
            f"--at {at!r}: use an ISO-8601 time such as 2026-03-02T10:00:00Z"
        ) from None
    with exits():
        cfg = load_config(config)
        names = [p.name for p in cfg.profiles]
        if connector is not None and connector not in names:
            raise usage_error(f"--connector {connector!r}: the config names {', '.join(names)}")
        profile = cfg.profiles[names.index(connector)] if connector else cfg.profiles[0]
        policy = load_policy_for(cfg)
        helpdesk = build_connector(profile, now=clock_from_env())
        # Read-only: an absent store is not created; an existing one is only read.
        exists = is_postgres(cfg.state_url) or cfg.state_path.exists()
        store = open_store(cfg.state_url, worker_id="esc-sync rules explain") if exists else None
        if isinstance(helpdesk, CachingConnector):  # what the worker learnt, never written
            helpdesk.use_cache(ReadThroughCache(store, helpdesk.name))
        try:
            helpdesk.check_auth()
            exp = explain_ticket(policy, helpdesk, store, ticket_id, now)
        except SkippableError as exc:
            raise usage_error(
                f"ticket {ticket_id} cannot be read on {profile.name}: {exc}"
            ) from None
        finally:
            if store is not None:
                store.close()
        if as_json:
            print_json(explanation_json(exp))
        else:
            render(out, exp)


@rules_app.command("schema")
def rules_schema(
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of policy files (for editor completion and checking)."""
    from esc_sync.policy.schema import json_schema

    schema = json_schema()
    schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    schema.setdefault("title", "esc-sync policy file")
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    out.print(f"schema written to {output}", highlight=False)
