"""`rules explain` plans a ticket with the worker's own planner: for every sandbox ticket, the
plan `explain --json` shows equals the plan a dry run records for it."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import pytest

from esc_sync.app import build_app
from esc_sync.explain import as_json, explain_ticket
from esc_sync.sandbox import Sandbox
from tests.frozen import suite_now
from tests.views.conftest import TOKEN, solve
from tests.views.test_explain import MANAGER_TICKET


def test_explain_plans_every_ticket_as_the_dry_run_does(
    box: Sandbox, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", TOKEN)
    now = suite_now()
    app = build_app(config, clock=lambda: now)
    # keep what the dry run read (mirror, surge hits) so explain sees the store it planned on
    app.store.dry_run = nullcontext  # type: ignore[method-assign]
    connector = app.connectors[0]
    connector.check_auth()
    try:
        app.worker.run_cycle(connector, dry_run=True)
        records = [json.loads(line) for line in app.config.audit_path.read_text().splitlines()]
        dry = {r["ticket"]: r for r in records if "rules" in r}
        assert len(dry) >= 58 and sum(1 for r in dry.values() if r["planned"]) >= 29
        for ticket_id, record in sorted(dry.items()):
            shown = as_json(explain_ticket(app.policy, connector, app.store, ticket_id, now))
            assert shown["plan"] == record["planned"], f"ticket {ticket_id}"
            assert shown["decision"]["tier_to"] == record["tier_to"], f"ticket {ticket_id}"
            matched = [r["rule"] for r in record["rules"]]
            assert shown["decision"]["matched"] == matched, f"ticket {ticket_id}"
            assert shown["decision"]["deadlines"] == record["deadlines"], f"ticket {ticket_id}"
    finally:
        app.close()


def test_explain_shows_the_resolution_steps_of_a_solved_escalated_ticket(
    box: Sandbox, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", TOKEN)
    now = suite_now()
    app = build_app(config, clock=lambda: now)
    connector = app.connectors[0]
    connector.check_auth()
    try:
        app.worker.run_cycle(connector)  # live: ticket 29 goes to t2 with its playbook
        solve(box, MANAGER_TICKET)
        app.store.dry_run = nullcontext  # type: ignore[method-assign]
        app.worker.run_cycle(connector, dry_run=True)
        records = [json.loads(line) for line in app.config.audit_path.read_text().splitlines()]
        planned = [r["planned"] for r in records
                   if r.get("ticket") == MANAGER_TICKET and r.get("outcome") == "dry-run"]
        assert planned and planned[-1]["tasks"], "the dry run plans the resolution steps"
        shown = as_json(explain_ticket(app.policy, connector, app.store, MANAGER_TICKET, now))
        assert shown["plan"] == planned[-1]
    finally:
        app.close()
