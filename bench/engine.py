"""Engine throughput: the default policy over N synthetic tickets, side by side with rule-engine.

    python bench/engine.py [--tickets 10000 100000] [--runs 5] [--peer-tickets 10000]
                           [--profile] [--json]

Builds N tickets with realistic text (subjects, customer comments with the occasional manager
request or legal threat, organizations with vip/enterprise tags, refund amounts, reopen counts),
then times `Policy.evaluate` over all of them (decisions with evidence, deadlines and tasks for
the matches), single core, the median of several runs, as wall time and as this process's CPU
time (steadier when other processes share the machine). In the same run the same conditions are
written as `rule-engine` expressions and evaluated over the same tickets (as plain dicts built
beforehand, outside the timing) with the same combining loop; both must agree on every ticket's
matched rules. The surge rule needs a window of neighbours, which rule-engine cannot express, so
it is left out of both sides' comparison (it never matches without a surge context).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from esc_sync.model import Organization, Person, Ticket, priority_rank
from esc_sync.policy import load_policy
from esc_sync.policy.engine import Policy

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
OPEN = ["new", "open", "pending", "on_hold"]

SUBJECTS = [
    "Invoice {n} shows the wrong VAT number",
    "How do I export my reports to CSV?",
    "Password reset email never arrives",
    "Feature request: dark mode for the dashboard",
    "Billing address change for account {n}",
    "The mobile app crashes when I open settings",
    "Site is down for our whole team",
    "Cannot login since this morning",
    "Question about the annual plan discount",
    "Integration with our CRM stopped syncing",
]
PLAIN = [
    "Hello, I have a question about my last invoice, the total looks higher than expected.",
    "Thanks for the quick answer, but the problem is still there after the update.",
    "Could you please tell me when the new version will be available for our region?",
    "We followed the steps in the help article and it still does not work for two users.",
    "Attached is the screenshot you asked for; the error appears right after signing in.",
    "Our finance team needs a copy of the receipts for the last three months, please.",
    "I tried clearing the cache and a different browser, same result every time.",
]
MANAGER = [
    "This is the third time I write; I want to speak to a manager today.",
    "Please escalate this, nobody has been able to help so far.",
    "Can I talk to your supervisor about this?",
]
LEGAL = [
    "If this is not fixed by Friday our lawyer will be in touch.",
    "We are considering a chargeback with our bank.",
    "I will report this to the ombudsman.",
]


def make_tickets(count: int, seed: int = 7) -> list[Ticket]:
    """N tickets whose fields and text follow a plausible helpdesk mix (about 15 % match)."""
    rng = random.Random(seed)
    tickets: list[Ticket] = []
    for tid in range(1, count + 1):
        texts = [rng.choice(PLAIN) for _ in range(rng.randint(1, 3))]
        roll = rng.random()
        if roll < 0.03:
            texts.append(rng.choice(MANAGER))
        elif roll < 0.05:
            texts.insert(0, rng.choice(LEGAL))
        created = NOW - timedelta(minutes=rng.randint(5, 60 * 24 * 5))
        org_tags = rng.choice([(), (), (), (), (), (), ("smb",), ("enterprise",), ("vip", "emea")])
        tags = ("needs_approval",) if rng.random() < 0.01 else ("billing", "web")
        refund = rng.choice([None, None, None, "120.00", "750.00"]) if rng.random() < 0.1 else None
        tickets.append(
            Ticket(
                id=tid,
                subject=rng.choice(SUBJECTS).format(n=tid),
                description=texts[0],
                status=rng.choices(
                    ["new", "open", "pending", "on_hold", "solved", "closed"],
                    [10, 45, 15, 5, 15, 10],
                )[0],
                priority=rng.choices(["low", "normal", "high", "urgent"], [20, 55, 18, 7])[0],
                type="question",
                channel="email",
                tags=tags,
                group=1,
                tier="t1",
                created_at=created,
                updated_at=created + timedelta(minutes=3),
                agent_replies=rng.choice([0, 0, 1, 2, 3]),
                customer_replies=len(texts) - 1,
                reopens=rng.choices([0, 1, 2, 3], [90, 7, 2, 1])[0],
                latest_customer_comment=texts[-1],
                customer_comments="\n\n".join(texts),
                requester=Person(
                    id=10_000 + tid % 4000,
                    tickets_30d=rng.choices([1, 2, 3, 5], [86, 11, 2, 1])[0],
                    tickets_90d=3,
                ),
                organization=Organization(id=tid % 50, name=f"Org {tid % 50}", tags=org_tags),
                satisfaction=rng.choices(["none", "good", "bad"], [85, 12, 3])[0],
                custom={"refund_amount": refund},
                comments_loaded=True,
            )
        )
    return tickets


# -- ours ------------------------------------------------------------------------------------


def ours(policy: Policy, tickets: Sequence[Ticket]) -> list[tuple[str, ...]]:
    """Every ticket's decision; the matched rule ids of each, in ticket order."""
    evaluate = policy.evaluate
    return [tuple(sorted(m.rule for m in evaluate(t, NOW).matches)) for t in tickets]


# -- rule-engine -----------------------------------------------------------------------------

PEER_RULES: dict[str, tuple[str, str | None, tuple[str, ...], str | None]] = {
    # rule id: (expression, then.priority, then.tags, then.status)
    "manager-request": (
        "status in $open and latest_customer_comment =~~ "
        r"'(?i)\\b(manager|supervisor|someone in charge|escalate this)\\b'",
        "high",
        ("esc-manager-request",),
        None,
    ),
    "legal-threat": (
        r"status in $open and customer_comments =~~ '(?i)\\b(lawyer|attorney|solicitor|sue you|"
        r"suing|lawsuit|legal action|chargeback|regulator|ombudsman)\\b'",
        "urgent",
        ("esc-legal",),
        None,
    ),
    "vip-high-priority": (
        "status in $open and priority in ['high', 'urgent'] and "
        "('vip' in organization_tags or 'enterprise' in organization_tags)",
        None,
        ("esc-vip",),
        None,
    ),
    "repeat-issue": (
        "status in $open and ((reopens != null and reopens >= 2) or "
        "(tickets_30d != null and tickets_30d >= 3))",
        None,
        ("esc-repeat",),
        None,
    ),
    "urgent-no-reply": (
        "status in ['new', 'open'] and priority == 'urgent' and agent_replies == 0 "
        "and age_seconds >= 14400",
        None,
        ("esc-no-reply",),
        None,
    ),
    "bad-satisfaction": (
        "satisfaction == 'bad' and status not in ['closed']",
        None,
        ("esc-bad-csat",),
        None,
    ),
    "financial-impact": (
        "status in $open and refund_amount != null and refund_amount >= 500",
        None,
        ("esc-financial",),
        None,
    ),
    "needs-approval": (
        "status in $open and 'needs_approval' in tags",
        None,
        ("esc-approval",),
        None,
    ),
}


def peer_rules() -> list[tuple[str, Any, str | None, tuple[str, ...], str | None]]:
    """The conditions compiled as rule-engine Rules."""
    import rule_engine

    context = rule_engine.Context(
        resolver=rule_engine.resolve_item,
        type_resolver=None,
    )
    built = []
    for rule_id, (text, priority, tags, status) in PEER_RULES.items():
        text = text.replace("$open", repr(OPEN).replace('"', "'"))
        built.append((rule_id, rule_engine.Rule(text, context=context), priority, tags, status))
    return built


def as_record(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the flat dict rule-engine reads (built before timing: a favour to the peer)."""
    refund = ticket.custom.get("refund_amount")
    assert ticket.created_at is not None
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "latest_customer_comment": ticket.latest_customer_comment,
        "customer_comments": ticket.customer_comments,
        "organization_tags": list(ticket.organization.tags),
        "tags": list(ticket.tags),
        "reopens": ticket.reopens,
        "tickets_30d": ticket.requester.tickets_30d,
        "agent_replies": ticket.agent_replies,
        "age_seconds": (NOW - ticket.created_at).total_seconds(),
        "satisfaction": ticket.satisfaction,
        "refund_amount": float(refund) if refund is not None else None,
    }


def theirs(rules: Sequence[Any], records: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Every ticket through the rule-engine rules with the same combining loop as ours."""
    out: list[tuple[str, ...]] = []
    for record in records:
        seen, matched = record, set()
        while True:
            new = [r for r in rules if r[0] not in matched and r[1].matches(seen)]
            if not new:
                break
            matched.update(r[0] for r in new)
            seen = _project(seen, new)
        out.append(tuple(sorted(matched)))
    return out


def _project(record: dict[str, Any], new: Sequence[Any]) -> dict[str, Any]:
    """The record as the newly matched rules would write it (priority up, tags added)."""
    wanted = max((r[2] for r in new if r[2]), key=priority_rank, default=None)
    projected = dict(record)
    if priority_rank(wanted) > priority_rank(record["priority"]):
        projected["priority"] = wanted
    projected["tags"] = list(dict.fromkeys([*record["tags"], *(t for r in new for t in r[3])]))
    return projected


# -- measuring -------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """The median wall time and the median CPU time (this process) of `runs` calls.

    On a shared machine the wall time also counts the time other processes held the core;
    the CPU time does not, so it is the steadier single-core figure.
    """
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def profile_top(policy: Policy, tickets: Sequence[Ticket], limit: int = 12) -> str:
    """The top entries (by own time) of a cProfile run of the engine over the tickets."""
    profiler = cProfile.Profile()
    profiler.enable()
    ours(policy, tickets)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def measure(count: int, runs: int, peer_count: int) -> dict[str, Any]:
    """One size: our throughput, the peer's (on a sample when N is large), agreement, ratio."""
    policy = load_policy(ROOT / "rules")
    tickets = make_tickets(count)
    mine = ours(policy, tickets)
    ours_s, ours_cpu = timed(lambda: ours(policy, tickets), runs)
    sample = tickets[: min(peer_count, count)]
    rules = peer_rules()
    records = [as_record(t) for t in sample]
    peer = theirs(rules, records)
    theirs_s, theirs_cpu = timed(lambda: theirs(rules, records), max(1, runs // 2))
    disagree = [t.id for t, a, b in zip(sample, mine, peer, strict=False) if a != b]
    ours_rate = count / ours_s
    theirs_rate = len(sample) / theirs_s
    ours_cpu_rate = count / ours_cpu if ours_cpu else float("inf")
    theirs_cpu_rate = len(sample) / theirs_cpu if theirs_cpu else float("inf")
    return {
        "tickets": count,
        "matched": sum(1 for m in mine if m),
        "runs": runs,
        "ours_tickets_per_s": round(ours_rate),
        "ours_us_per_ticket": round(1e6 / ours_rate, 2),
        "peer_tickets": len(sample),
        "rule_engine_tickets_per_s": round(theirs_rate),
        "rule_engine_us_per_ticket": round(1e6 / theirs_rate, 2),
        "ratio_ours_over_theirs": round(ours_rate / theirs_rate, 1),
        "ours_cpu_tickets_per_s": round(ours_cpu_rate),
        "rule_engine_cpu_tickets_per_s": round(theirs_cpu_rate),
        "ratio_cpu": round(ours_cpu_rate / theirs_cpu_rate, 1),
        "agree": not disagree,
        "disagreements": disagree[:10],
    }


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a table (or JSON); optionally a profile."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peer-tickets", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(n, args.runs, args.peer_tickets) for n in args.tickets]
    if args.profile:
        print(profile_top(load_policy(ROOT / "rules"), make_tickets(args.tickets[0])))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        keys = [k for k in rows[0] if k != "disagreements"]
        print(" | ".join(f"{k:>12}" for k in keys))
        for row in rows:
            print(" | ".join(f"{row[k]!s:>12}" for k in keys))
    return 0 if all(row["agree"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
