"""The fused predicates agree with the Kleene nodes on tickets without unknown fields."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.model import Organization, Person, Ticket
from esc_sync.policy import compile as compiled
from esc_sync.policy import load_policy
from esc_sync.policy.fused import _search, fuse, fuse_all

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
TEXTS = [
    "I want to speak to a MANAGER now",
    "our Lawyer will call",
    "Ombudsman next",
    "managerial stuff",
    "the site is down",
    "Cannot login",
    "plain question about invoices",
    "",
    "ſuing you",  # long s: case-insensitive match of "s"
]


def _ticket(rng: random.Random, tid: int) -> Ticket:
    """A ticket with every rule field drawn at random (values of odd types included)."""
    text = rng.choice(TEXTS)
    return Ticket(
        id=tid,
        subject=rng.choice(TEXTS),
        status=rng.choice(["new", "open", "pending", "on_hold", "solved", "closed"]),
        priority=rng.choice([None, "low", "normal", "high", "urgent"]),
        tags=tuple(rng.sample(["needs_approval", "NEEDS_APPROVAL", "billing", "vip"], 2)),
        created_at=NOW - timedelta(hours=rng.randint(0, 10)),
        agent_replies=rng.choice([None, 0, 1]),
        reopens=rng.choice([None, 0, 2, 5, True]),
        latest_customer_comment=rng.choice([None, text]),
        customer_comments=rng.choice([None, text]),
        requester=Person(id=1, tickets_30d=rng.choice([None, 1, 3, "4"])),
        organization=Organization(tags=rng.choice([(), ("VIP",), ("enterprise",)])),
        satisfaction=rng.choice(["none", "good", "bad"]),
        custom={"refund_amount": rng.choice([None, "750.00", 499, 500.0, "x"])},
    )


def _tests(node: object) -> list[compiled.Test]:
    """Every test under a node."""
    if isinstance(node, compiled.Test):
        return [node]
    return [t for child in getattr(node, "children", ()) for t in _tests(child)]


def test_fused_rules_agree_with_kleene_nodes() -> None:
    """Each rule's fused predicate equals `condition.test(...) is True` on 2,000 tickets."""
    policy = load_policy(ROOT / "rules")
    nodes = [rule.condition for rule in policy.rules]
    matcher = fuse_all(nodes)
    singles = [fuse(node) for node in nodes]
    rng = random.Random(3)
    for tid in range(2000):
        ticket = _ticket(rng, tid)
        expected = [i for i, node in enumerate(nodes) if node.test(ticket, NOW) is True]
        assert matcher(ticket, NOW) == expected
        assert [i for i, f in enumerate(singles) if f(ticket, NOW)] == expected


def test_guarded_regex_finds_the_same_text() -> None:
    """The first-character guard changes no match of the policy's regexes."""
    policy = load_policy(ROOT / "rules")
    for rule in policy.rules:
        for test in _tests(rule.condition):
            if test.op != "matches":
                continue
            guarded = _search(test)
            assert "(?=[" in guarded.__self__.pattern  # type: ignore[attr-defined]
            for text in TEXTS:
                plain = test.check(text, NOW)
                found = guarded(text)
                assert (found is not None) == plain
                assert (found.group(0) if found else None) == test.seen(text)
