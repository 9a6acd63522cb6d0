"""Rule fields Freshdesk keeps off the ticket, read without a request per ticket: requester
tags from contacts, satisfaction from the ratings listing; over HTTP against the sandbox."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from esc_sync.app import build_app
from esc_sync.demo import write_demo_config
from esc_sync.policy import load_policy
from esc_sync.sandbox import Sandbox
from esc_sync.sandbox.seed import expectations
from tests.frozen import frozen_sandbox

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "fields-token-5d1e"
VIP_CONTACT_RULE = """

[[rules]]
id = "vip-contact"
name = "VIP contact with a high-priority ticket"
when.all = [
  { field = "status", in = ["new", "open", "pending", "on_hold"] },
  { field = "priority", in = ["high", "urgent"] },
  { field = "requester.tags", contains = "vip" },
]
then.escalate_to = "t2"
then.tags = ["esc-vip-contact"]
"""


@pytest.fixture()
def box(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A Freshdesk-speaking sandbox."""
    monkeypatch.setenv("ESC_SYNC_DEMO_TOKEN", TOKEN)
    with frozen_sandbox(
        port=0, token=TOKEN, recent_window=0, dialect="freshdesk", account_limit=100000
    ) as sandbox:
        yield sandbox


def _policy(tmp_path: Path) -> Path:
    """The default policy plus a rule reading the requester's contact tags."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    with (rules / "triggers.toml").open("a", encoding="utf-8") as fh:
        fh.write(VIP_CONTACT_RULE)
    return rules


def _quiet_pending(box: Sandbox) -> list[int]:
    """Seeded pending tickets no rule escalates, at organizations that are not vip."""
    expected = expectations(len(box.store.tickets))
    out = []
    for tid, ticket in sorted(box.store.tickets.items()):
        org = box.store.organizations.get(ticket.organization_id or 0)
        if (
            ticket.status == "pending"
            and not expected.get(tid, {}).get("rules")
            and (org is None or not {"vip", "enterprise"} & set(org.tags))
        ):
            out.append(tid)
    return out


def _counts(box: Sandbox, since: int = 0) -> Counter[str]:
    """API requests by endpoint (ids folded) from the sandbox's log."""
    log = requests.get(f"{box.url}/__sandbox/requests", timeout=10).json()[since:]
    out: Counter[str] = Counter()
    for entry in log:
        if not entry["path"].startswith("/__sandbox"):
            parts = ["{id}" if p.isdigit() else p for p in entry["path"].split("/")]
            out[f"{entry['method']} {'/'.join(parts)}"] += 1
    return out


def test_a_vip_contacts_high_priority_ticket_is_escalated_without_per_ticket_ratings(
    box: Sandbox, tmp_path: Path
) -> None:
    first, second = _quiet_pending(box)[:2]
    vip = box.store.tickets[first]
    vip.priority = "high"
    box.store.users[vip.requester_id].tags = ["vip"]
    box.store.tickets[second].priority = "high"  # same shape, requester not vip
    config = write_demo_config(tmp_path, box.url, _policy(tmp_path), "freshdesk")
    app = build_app(config, clock=box.store.clock.now)
    try:
        connector = app.connectors[0]
        report = app.worker.run_cycle(connector)
        assert "esc-vip-contact" in box.store.tickets[first].tags
        assert box.store.tickets[first].group_id == 360000002
        assert "esc-vip-contact" not in box.store.tickets[second].tags
        calls = _counts(box)
        assert calls["GET /api/v2/tickets/{id}/satisfaction_ratings"] == 0
        assert calls["GET /api/v2/surveys/satisfaction_ratings"] == 1
        assert calls["GET /api/v2/contacts"] == 1
        assert report.tickets_read >= 50

        # A later tag change on another contact is seen through the listing alone.
        logged = len(requests.get(f"{box.url}/__sandbox/requests", timeout=10).json())
        other = box.store.users[box.store.tickets[second].requester_id]
        other.tags = ["vip"]
        other.updated_at = box.store.now()
        box.store.stamp(box.store.tickets[second])
        app.worker.run_cycle(connector)
        assert "esc-vip-contact" in box.store.tickets[second].tags
        again = _counts(box, logged)
        assert again["GET /api/v2/contacts/{id}"] == 0
        assert again["GET /api/v2/contacts"] == 1
        assert again["GET /api/v2/surveys/satisfaction_ratings"] == 1
    finally:
        app.close()


def test_contacts_and_cursors_survive_a_restart_in_the_state_store(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, _policy(tmp_path), "freshdesk")
    app = build_app(config, clock=box.store.clock.now)
    try:
        app.worker.run_cycle(app.connectors[0])
        read = _counts(box)["GET /api/v2/contacts/{id}"]
        assert read > 0
    finally:
        app.close()
    app = build_app(config, clock=box.store.clock.now)
    try:
        connector = app.connectors[0]
        ticket = connector.fetch_ticket(next(iter(sorted(box.store.tickets))))
        assert "requester.tags" not in ticket.unknown
        assert _counts(box)["GET /api/v2/contacts/{id}"] == read  # from the state store
    finally:
        app.close()


def test_no_contact_is_read_while_no_rule_reads_requester_tags(
    box: Sandbox, tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path, box.url, RULES, "freshdesk")  # the default policy
    app = build_app(config, clock=box.store.clock.now)
    try:
        app.worker.run_cycle(app.connectors[0])
        calls = _counts(box)
        assert calls["GET /api/v2/contacts/{id}"] == 0 and calls["GET /api/v2/contacts"] == 0
        assert calls["GET /api/v2/surveys/satisfaction_ratings"] == 1  # ratings still read
        app.use_policy(load_policy(_policy(tmp_path)))  # a reload adds a rule reading them
        app.worker.run_cycle(app.connectors[0])
        assert _counts(box)["GET /api/v2/contacts"] == 1
    finally:
        app.close()
