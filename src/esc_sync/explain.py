"""`esc-sync rules explain`: why a ticket is (or is not) escalated, condition by condition.

Read-only: the ticket and its comments are read from the helpdesk, the state store is only read
(episode, rules fired, requester history, surge hits), and nothing is written anywhere. The
decision and plan come from the same policy and planner the worker uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from esc_sync.apply.recorder import plan_summary, target_fields
from esc_sync.connectors.base import Connector
from esc_sync.durations import format_duration
from esc_sync.model import Decision, Plan, Ticket
from esc_sync.plan.facts import Facts
from esc_sync.plan.retarget import entry_basis
from esc_sync.plan.ticket import evaluation_context, plan_ticket
from esc_sync.plan.writes import iso, target_text
from esc_sync.policy import EvalContext, Policy
from esc_sync.policy.compile import CompiledRule
from esc_sync.policy.engine import surge_count
from esc_sync.policy.trace import Trace, trace
from esc_sync.state.facts import gather_facts, with_requester_history
from esc_sync.state.protocol import FactSource
from esc_sync.state.sqlite import Store

RESULT_STYLE = {"true": "green", "false": "red", "unknown": "yellow"}
TEXT_LIMIT = 90


@dataclass(slots=True)
class RuleOutcome:
    """One rule on the ticket: its verdict and its conditions' trace."""

    rule: CompiledRule
    verdict: str  # matched | not matched | unknown | already fired | disabled | surge below
    trace: Trace
    surge: dict[str, Any] | None = None


@dataclass(slots=True)
class Explanation:
    """Everything `rules explain` shows for one ticket."""

    connector: str
    ticket: Ticket
    at: datetime
    episode: int
    rules: list[RuleOutcome]
    decision: Decision
    plan: Plan
    messages: list[tuple[str, str]] = field(default_factory=list)  # (channel, event) planned
    profile: str | None = None  # the SLA profile chosen for the ticket
    target: str | None = None  # the targets that applied (entered now, or the open entry's)


def parse_at(text: str | None, clock_now: datetime) -> datetime:
    """`--at`: an ISO-8601 time (naive means UTC), or now when absent."""
    if text is None or text == "now":
        return clock_now
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def explain_ticket(
    policy: Policy, connector: Connector, store: FactSource | None, ticket_id: int, now: datetime
) -> Explanation:
    """Read one ticket and plan it exactly as the worker would at `now` (same facts, same
    planner), with every rule's trace."""
    name = connector.name
    ticket = connector.load_comments(connector.fetch_ticket(ticket_id))
    if store is not None:
        ticket = with_requester_history(store, name, ticket, now)
        facts = gather_facts(store, policy, name, ticket, now)
    else:  # no state store yet: nothing fired, no neighbours recorded
        empty = Store(":memory:")
        try:
            facts = gather_facts(empty, policy, name, ticket, now)
        finally:
            empty.close()
    tplan = plan_ticket(policy, connector.profile, name, ticket, facts, now)
    decision = tplan.decision
    assert decision is not None
    ctx = evaluation_context(ticket, facts)
    outcomes = [_outcome(rule, ticket, now, decision, ctx) for rule in policy.rules]
    messages = [(n.channel, n.event) for n in tplan.notifications]
    exp = Explanation(name, ticket, now, facts.episode, outcomes, decision, tplan.plan, messages)
    exp.profile, exp.target = _targets(policy, ticket, facts, decision, now)
    return exp


def _targets(
    policy: Policy, ticket: Ticket, facts: Facts, decision: Decision, now: datetime
) -> tuple[str | None, str | None]:
    """The ticket's SLA profile, and the targets that apply to it: those of the tier it
    enters now, else those of the tier entry it sits in (counted again when its profile or
    priority changed), else those its current tier would give it."""
    profile = policy.profile_for(ticket, now)
    text = target_text(decision.deadlines)
    if text is not None:
        return profile, text
    entry = facts.entry
    tier = entry.tier if entry is not None else ticket.tier
    if tier is None or tier not in {t.id for t in policy.tiers}:
        return profile, None
    choice = policy.target(tier, profile, ticket.priority).describe()
    if entry is not None and entry.episode == facts.episode:
        basis = entry_basis(facts.ledger, entry)
        if basis is not None and basis != (profile, ticket.priority):
            was = policy.target(tier, *basis).describe()
            return profile, f"{choice} (the open entry was counted for {was}; counted again next)"
        return profile, f"{choice} (open entry: respond by {iso(entry.respond_by)}, " + (
            f"resolve by {iso(entry.resolve_by)})"
        )
    return profile, f"{choice} (if it entered {tier} now)"


def _outcome(
    rule: CompiledRule, ticket: Ticket, now: datetime, decision: Decision, ctx: EvalContext
) -> RuleOutcome:
    """The verdict of one rule, with its trace."""
    traced = trace(rule.condition, ticket, now)
    surge: dict[str, Any] | None = None
    below = False
    if rule.surge is not None and ticket.created_at is not None:
        times = ctx.surge_times.get(rule.id, ())
        count = surge_count(times, ticket.created_at, rule.surge.within)
        below = count < rule.surge.at_least
        window = format_duration(rule.surge.within)
        surge = {"at_least": rule.surge.at_least, "within": window, "seen": count}
    matched = {m.rule for m in decision.matches}
    if not rule.enabled:
        verdict = "disabled"
    elif rule.id in decision.already_fired:
        verdict = "already fired"
    elif rule.id in matched:
        verdict = "matched" if traced.result else "matched after the decision's own writes"
    elif traced.result is None:
        verdict = "unknown"
    elif traced.result and below:
        verdict = "surge below threshold"
    else:
        verdict = "not matched"
    return RuleOutcome(rule, verdict, traced, surge)


# -- output -----------------------------------------------------------------------------------


def as_json(exp: Explanation) -> dict[str, Any]:
    """The explanation as one JSON document (`--json`)."""
    d = exp.decision
    return {
        "connector": exp.connector,
        "ticket": exp.ticket.id,
        "subject": exp.ticket.subject,
        "at": iso(exp.at),
        "episode": exp.episode,
        "rules": [
            {
                "rule": o.rule.id,
                "name": o.rule.name,
                "escalate_to": o.rule.then.escalate_to,
                "verdict": o.verdict,
                "matched": o.verdict.startswith("matched"),
                "surge": o.surge,
                "when": o.trace.as_json(),
            }
            for o in exp.rules
        ],
        "decision": {
            "matched": [m.rule for m in d.matches],
            "already_fired": d.already_fired,
            "tier_from": d.current_tier,
            "tier_to": d.target_tier,
            "tags": d.tags,
            "priority": d.priority,
            "status": d.status,
            "playbooks": d.playbooks,
            "deadlines": (
                {
                    "respond_by": iso(d.deadlines.respond_by),
                    "resolve_by": iso(d.deadlines.resolve_by),
                    **target_fields(d.deadlines),
                }
                if d.deadlines
                else None
            ),
            "sla_profile": exp.profile,
            "target": exp.target,
        },
        "plan": None if exp.plan.is_empty() else plan_summary(exp.plan),
        "messages": [{"channel": c, "event": e} for c, e in exp.messages],
    }


def _short(value: Any) -> str:
    """A value for one line of the tree: ISO times, long text cut."""
    if isinstance(value, datetime):
        value = iso(value)
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _add_trace(tree: Tree, node: Trace) -> None:
    """Append one condition (and its children) to a rich tree."""
    word = "unknown" if node.result is None else str(node.result).lower()
    mark = f"[{RESULT_STYLE[word]}]{word}[/]"
    if node.kind == "test":
        label = (
            f"{mark}  {escape(str(node.field))} {node.op} {escape(_short(node.expected))}"
            f"  [dim]seen:[/] {escape(_short(node.seen))}"
        )
        tree.add(label)
        return
    branch = tree.add(f"{mark}  [bold]{node.kind}[/]")
    for child in node.children:
        _add_trace(branch, child)


def render(console: Console, exp: Explanation) -> None:
    """Print the explanation: every rule with its conditions, then the decision and plan."""
    t = exp.ticket
    console.print(
        f"[bold]ticket {t.id}[/] on {exp.connector}: {escape(t.subject)}  "
        f"[dim](status {t.status}, priority {t.priority or '-'}, tier {t.tier or '-'}, "
        f"episode {exp.episode}, evaluated at {iso(exp.at)})[/]"
    )
    for o in exp.rules:
        style = "green" if o.verdict.startswith("matched") else "dim"
        tree = Tree(
            f"[{style}]{o.verdict.upper()}[/]  [bold]{escape(o.rule.id)}[/]  "
            f"{escape(o.rule.name)} -> {o.rule.then.escalate_to or 'no tier'}"
        )
        if o.surge is not None:
            tree.add(
                f"surge: {o.surge['seen']} matching tickets in {o.surge['within']} "
                f"(needs {o.surge['at_least']})"
            )
        _add_trace(tree, o.trace)
        console.print(tree)
    console.rule("[bold]targets")
    console.print(f"sla profile: {exp.profile or 'none'}", highlight=False, markup=False)
    console.print(f"target: {exp.target or 'none (no tier)'}", highlight=False, markup=False)
    _render_decision(console, exp)


def _render_decision(console: Console, exp: Explanation) -> None:
    """The combined decision and the writes it would make."""
    d = exp.decision
    console.rule("[bold]decision")
    if not d.matches:
        fired = f" (already fired this episode: {', '.join(d.already_fired)})"
        console.print("no new rule matches; nothing to do" + (fired if d.already_fired else ""))
        return
    console.print(f"matched: {', '.join(m.rule for m in d.matches)}", highlight=False)
    move = f"{d.current_tier or '-'} -> {d.target_tier}" if d.target_tier else "stays"
    console.print(f"tier: {move}; priority: {d.priority or 'unchanged'}", highlight=False)
    if d.deadlines:
        console.print(
            f"respond by {iso(d.deadlines.respond_by)}, resolve by {iso(d.deadlines.resolve_by)}",
            highlight=False,
        )
    console.rule("[bold]plan (not sent)")
    if exp.plan.is_empty():
        console.print("nothing left to write: the ledger and the ticket already show it")
        for channel, event in exp.messages:
            console.print(f"message: {event} to channel {channel}", highlight=False, markup=False)
        return
    summary = plan_summary(exp.plan)
    for key in ("tags", "group", "priority", "status", "custom_fields", "markers"):
        if summary.get(key):
            console.print(f"{key}: {summary[key]}", highlight=False, markup=False)
    if exp.plan.update and exp.plan.update.note:
        console.print(f"internal note: {len(exp.plan.update.note.splitlines())} lines")
    for task in summary["tasks"]:
        console.print(
            f"task: {task['title']} (due {task['due_at']})", highlight=False, markup=False
        )
    for channel, event in exp.messages:
        console.print(f"message: {event} to channel {channel}", highlight=False, markup=False)
