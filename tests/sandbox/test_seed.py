"""The seed: big enough, deterministic, and every ticket triggers exactly its expected rules."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from esc_sync.sandbox import expectations, seeded_store
from esc_sync.sandbox.render import comment_json, metric_set_json, ticket_json
from esc_sync.sandbox.seed import RULE_TARGETS
from esc_sync.sandbox.store import Store
from tests.sandbox.rules_reference import evaluate

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
GROUP_TIER = {360000001: "t1", 360000002: "t2", 360000003: "t3", 360000004: "t4"}


def dump(store: Store) -> str:
    """Everything a client could read, as one JSON string."""
    with store.lock:
        data = [
            (
                ticket_json(store, t, ""),
                [comment_json(store, c) for c in t.comments],
                metric_set_json(store, t, ""),
            )
            for t in store.tickets.values()
        ]
    return json.dumps(data, sort_keys=True)


def test_the_default_seed_has_at_least_60_tickets() -> None:
    store = seeded_store(now=NOW)

    assert len(store.tickets) == len(expectations()) >= 60
    assert sorted(store.tickets) == list(range(1, len(store.tickets) + 1))


@pytest.mark.parametrize(("tickets", "seed"), [(64, 7), (64, 1), (100, 7), (150, 42)])
def test_every_ticket_triggers_exactly_its_expected_rules(tickets: int, seed: int) -> None:
    store = seeded_store(tickets=tickets, seed=seed, now=NOW)

    found = evaluate(store, NOW)

    want = {tid: e["rules"] for tid, e in expectations(tickets, seed).items()}
    assert found == want


def test_every_rule_has_positives_and_decoys() -> None:
    expected = expectations()
    positives = Counter(rule for e in expected.values() for rule in e["rules"])

    assert set(positives) == set(RULE_TARGETS)
    assert all(count >= 1 for count in positives.values())
    assert positives["manager-request"] >= 3 and positives["legal-threat"] >= 3
    assert positives["outage-surge"] >= 5
    decoys = [tid for tid, e in expected.items() if not e["rules"]]
    assert len(decoys) >= 20


def test_expected_tier_is_the_highest_target_and_never_lower() -> None:
    store = seeded_store(now=NOW)
    order = ["t1", "t2", "t3", "t4"]

    for tid, e in expectations().items():
        current = GROUP_TIER[store.tickets[tid].group_id or 0]
        if not e["rules"]:
            assert e["tier"] is None
            continue
        target = max((RULE_TARGETS[r] for r in e["rules"]), key=order.index)
        assert e["tier"] == (target if order.index(target) > order.index(current) else None)
    kept = [tid for tid, e in expectations().items() if e["rules"] and e["tier"] is None]
    assert kept, "a ticket already in t3 that matches a t2 rule stays in t3"


def test_same_seed_gives_the_same_data() -> None:
    assert dump(seeded_store(seed=7, now=NOW)) == dump(seeded_store(seed=7, now=NOW))


def test_another_seed_changes_details_but_not_ids_or_expectations() -> None:
    one, other = seeded_store(seed=7, now=NOW), seeded_store(seed=8, now=NOW)

    assert dump(one) != dump(other)
    assert [t.subject for t in one.tickets.values()] == [t.subject for t in other.tickets.values()]
    assert expectations(seed=7) == expectations(seed=8)


def test_seed_is_realistic_support_data() -> None:
    store = seeded_store(now=NOW)
    bot = store.users[store.bot_id]
    orgs = {o.name: o.tags for o in store.organizations.values()}
    roles = Counter(u.role for u in store.users.values())

    assert (bot.email, bot.role) == ("escalations-bot@sandbox.test", "admin")
    assert orgs["Globex"] == ["vip", "gold"] and orgs["Initech"] == ["enterprise"]
    assert orgs["Acme Corp"] == [] and orgs["Umbrella Health"] == ["smb"]
    assert roles["end-user"] >= 15 and roles["agent"] >= 3
    assert set(store.groups) == {360000001, 360000002, 360000003, 360000004}
    for ticket in store.tickets.values():
        assert [*ticket.custom] == [360010001, 360010002, 360010003, 360010010]
        assert ticket.comments[0].author_id == ticket.requester_id
        assert ticket.created_at <= ticket.comments[-1].created_at <= ticket.updated_at < NOW
    notes = [c for t in store.tickets.values() for c in t.comments if not c.public]
    assert notes, "some tickets carry internal notes"


def test_more_tickets_repeat_decoys() -> None:
    expected = expectations(tickets=90)

    assert len(expected) == 90
    assert sum(1 for e in expected.values() if e["rules"]) == sum(
        1 for e in expectations().values() if e["rules"]
    )
