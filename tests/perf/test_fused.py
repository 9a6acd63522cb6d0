"""The fused predicates agree with the Kleene nodes on tickets without unknown fields."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.model import Evidence, Organization, Person, Ticket
from esc_sync.policy import EvalContext, Policy, load_policy
from esc_sync.policy import compile as compiled
from esc_sync.policy.fused import _search, fuse, fuse_all, fuse_evidence, required_literals

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


# -- the compiled engine against the three-valued walk ------------------------------------------

RICH_RULES = r"""
[[rules]]
id = "status-forms"
name = "Status in every form"
when.all = [
  { field = "status", ne = "closed" },
  { field = "status", exists = true },
  { any = [{ field = "status", eq = "open" }, { field = "status", not_in = ["new", "pending"] }] },
]
when.none = [{ field = "tags", contains = "Ignore-Me" }]
then.escalate_to = "t2"
then.tags = ["esc-status"]

[[rules]]
id = "numbers"
name = "Numbers of every kind"
when.any = [
  { field = "agent_replies", eq = 0 },
  { field = "customer_replies", ne = 2 },
  { field = "reopens", lt = 1 },
  { field = "custom.refund_amount", eq = 750 },
  { field = "custom.refund_amount", lte = 10.5 },
  { field = "requester.tickets_90d", gt = 4 },
]
when.all = [{ field = "priority", gte = "normal" }]
then.escalate_to = "t2"
then.priority = "urgent"
then.tags = ["esc-numbers"]

[[rules]]
id = "texts"
name = "Text tests"
when.all = [
  { field = "status", in = ["new", "open", "pending"] },
  { any = [
    { field = "subject", matches = '(?i)\b(refund|charge ?back|can.t pay)\b' },
    { field = "latest_customer_comment", matches = 'Urgent|ASAP' },
    { field = "customer_comments", contains = "lawyer" },
    { field = "description", matches = '(?ix) \b (broken | not \s working) \b' },
    { field = "organization.name", in = ["Acme", "Globex"] },
    { field = "requester.email", matches = '@vip\.example$' },
  ] },
]
then.escalate_to = "t3"
then.tags = ["esc-texts"]

[[rules]]
id = "lists-and-times"
name = "Lists and times"
when.all = [
  { field = "status", not_in = ["solved", "closed"] },
  { any = [
    { field = "tags", contains = "esc-numbers" },
    { field = "requester.tags", contains = "VIP" },
    { field = "organization.tags", matches = "^ent" },
    { all = [
      { field = "created_at", older_than = "2h" },
      { field = "updated_at", newer_than = "30m" },
    ] },
  ] },
]
then.escalate_to = "t2"
then.tags = ["esc-lists"]

[[rules]]
id = "after-urgent"
name = "Urgent after another rule"
when.all = [{ field = "priority", eq = "urgent" }, { field = "tier", lt = "t3" }]
then.escalate_to = "t3"
then.tags = ["esc-after"]

[[rules]]
id = "surge-like"
name = "A surge"
when.all = [{ field = "subject", matches = "(?i)down" }]
surge = { at_least = 2, within = "1h" }
then.escalate_to = "t2"
"""

ODD_TEXTS = [
    *TEXTS,
    "REFUND now",
    "a chargeback",
    "I can't pay",
    "refunded",  # no word boundary after "refund"
    "ASAP please",
    "asap please",  # case-sensitive pattern: no match
    "Our LAWYER",
    "the device is broken",
    "not working at all",
    "notworking",
    "lıtigation and ﬀ",  # dotless i, a ligature: non-ASCII text takes the regex itself
    "İ want a refund",
    "Kelvin: \u212a",
]


def _odd_ticket(rng: random.Random, tid: int) -> Ticket:
    """A ticket for the rich policy: valid and odd values of every field it reads."""
    return Ticket(
        id=tid,
        subject=rng.choice(ODD_TEXTS),
        description=rng.choice(ODD_TEXTS),
        status=rng.choice(["new", "open", "pending", "on_hold", "solved", "closed", "weird"]),
        priority=rng.choice([None, "low", "normal", "high", "urgent"]),
        tags=tuple(rng.sample(["ignore-me", "IGNORE-ME", "billing", "esc-numbers", "x"], 2)),
        tier=rng.choice([None, "t1", "t2", "t3"]),
        created_at=rng.choice([None, NOW - timedelta(hours=rng.randint(0, 5))]),
        updated_at=NOW - timedelta(minutes=rng.randint(0, 60)),
        agent_replies=rng.choice([None, 0, 1, 0.0, True]),
        customer_replies=rng.choice([None, 2, 3, 2.0]),
        reopens=rng.choice([None, 0, 1, False]),
        latest_customer_comment=rng.choice([None, *ODD_TEXTS]),
        customer_comments=rng.choice([None, *ODD_TEXTS]),
        requester=Person(
            id=1,
            email=rng.choice([None, "a@vip.example", "b@mail.example"]),
            tags=rng.choice([(), ("vip",), ("Vip", 3)]),
            tickets_90d=rng.choice([None, 4, 5, "6", 5.5]),
        ),
        organization=Organization(
            name=rng.choice([None, "Acme", "acme", "Initech"]),
            tags=rng.choice([(), ("enterprise",), ("ENT",), ("smb",)]),
        ),
        custom={"refund_amount": rng.choice([None, "750.00", 750, 10, "10.5", "x", True, 11.0])},
    )


def _rich_policy(tmp_path: Path) -> Policy:
    """The rich policy on top of the test tiers."""
    from tests.policy.stories import TIERS, write

    write(tmp_path, "tiers.toml", TIERS)
    write(tmp_path, "rules.toml", RICH_RULES)
    write(tmp_path, "templates/briefing.md.j2", "{{ marker }}\n")
    return load_policy(tmp_path, custom_fields={"refund_amount"})


def _contexts(rng: random.Random, ticket: Ticket) -> list[EvalContext]:
    """No context, some rules fired, and a surge context around the ticket."""
    times = [NOW - timedelta(minutes=m) for m in rng.sample(range(0, 120), 3)]
    if ticket.created_at is not None:
        times.append(ticket.created_at)
    return [
        EvalContext(),
        EvalContext(fired=frozenset(rng.sample(["numbers", "texts", "after-urgent"], 1))),
        EvalContext(surge_times={"surge-like": sorted(times)}),
    ]


def test_rich_policy_compiled_matchers_agree_with_kleene_nodes(tmp_path: Path) -> None:
    """Matchers (per status and general), predicates and evidence functions equal the nodes."""
    policy = _rich_policy(tmp_path)
    nodes = [rule.condition for rule in policy.rules]
    matcher = fuse_all(nodes)
    singles = [fuse(node) for node in nodes]
    evidencers = [fuse_evidence(node) for node in nodes]
    rng = random.Random(11)
    for tid in range(3000):
        ticket = _odd_ticket(rng, tid)
        expected = [i for i, node in enumerate(nodes) if node.test(ticket, NOW) is True]
        assert matcher(ticket, NOW) == expected, ticket
        assert [i for i, f in enumerate(singles) if f(ticket, NOW)] == expected
        for node, evidencer in zip(nodes, evidencers, strict=True):
            want: list[Evidence] = []
            got: list[Evidence] = []
            node.evidence(ticket, NOW, want)
            evidencer(ticket, NOW, got)
            assert got == want


def test_compiled_evaluate_equals_the_three_valued_evaluation(tmp_path: Path) -> None:
    """`evaluate` (compiled path) gives the very decision of the rule-by-rule Kleene path,
    evidence, already-fired rules, projections and effects included, with and without a
    context, on the default policy and on the rich one."""
    rng = random.Random(5)
    policies = [(load_policy(ROOT / "rules"), _ticket), (_rich_policy(tmp_path), _odd_ticket)]
    for policy, make in policies:
        matched = 0
        for tid in range(1500):
            ticket = make(rng, tid)
            for ctx in _contexts(rng, ticket):
                fast = policy.evaluate(ticket, NOW, ctx)
                slow = policy._evaluate_kleene(ticket, NOW, ctx)
                assert fast == slow, (ticket, ctx)
                matched += bool(fast.matches)
        assert matched > 300  # the comparison is about decisions, not only empty ones


def test_required_literals_are_necessary_on_ascii_text() -> None:
    """Every match of a pattern in ASCII text contains one of its literals (lower-cased for
    a case-insensitive pattern); patterns without a simple literal set get no prefilter."""
    patterns = [
        r"(?i)\b(manager|supervisor|someone in charge|escalate this)\b",
        r"(?i)\b(down|outage|cannot log ?in|can't log ?in|not loading)\b",
        r"(?i)\b(refund|charge ?back|can.t pay)\b",
        r"Urgent|ASAP",
        r"(?ix) \b (broken | not \s working) \b",
        r"@vip\.example$",
        r"ab(cd|ef)gh",
    ]
    rng = random.Random(2)
    alphabet = "abcdefghnoprstuvwxyzABCDEFGHNOPRST '.@-"
    words = ["manager", "MANAGER", "outage", "cannot login", "chargeback", "Charge back"]
    for pattern in patterns:
        found = required_literals(pattern)
        assert found is not None, pattern
        literals, folded = found
        compiled_pattern = re.compile(pattern)
        for _ in range(3000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            text += rng.choice(["", *words]) + "".join(rng.choice(alphabet) for _ in range(3))
            if compiled_pattern.search(text):
                haystack = text.lower() if folded else text
                assert any(lit in haystack for lit in literals), (pattern, text)
    assert required_literals(r"(?i)\w+") is None
    assert required_literals(r"(?i)[a-z]+|y") is None  # a branch without a literal
    assert required_literals(r"(?i)[a-z]x|y") == (("x", "y"), True)
    assert required_literals("(?i)ſ") is None  # non-ASCII: can match ASCII text ("s")
