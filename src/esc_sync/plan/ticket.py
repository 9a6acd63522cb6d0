"""One ticket and its facts in, a decision and everything it implies out, as data.

`plan_ticket` is the whole path from a read ticket to the effects it calls for: rules already on
the ticket as markers are adopted, the policy is evaluated, the writes still missing are
planned (resolution playbook steps included) and every effect carries its ledger key. Pure: no
store, no connector, no clock (`now` is an argument), no logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from esc_sync.config import ConnectorProfile
from esc_sync.model import (
    CLOSED_STATUSES,
    MARKER_PREFIX,
    Decision,
    Intent,
    LedgerEntry,
    Notification,
    Plan,
    Ticket,
    TierMove,
)
from esc_sync.plan.facts import Facts, History, fired_from_markers
from esc_sync.plan.notices import escalation_notices
from esc_sync.plan.writes import build_plan, entry_detail, iso, tasks_for
from esc_sync.policy import EvalContext, Policy


@dataclass(slots=True)
class TicketPlan:
    """What one evaluation calls for: records to make, and writes with their ledger keys.

    `intents` are settled by the ticket update (recorded before it is sent, done once it
    landed); `enter` is the tier entry that update makes. `adopt` (and `adopt_entry`) are
    recorded without any write: markers found on the ticket, reminders that became moot.
    """

    ticket: Ticket
    episode: int
    plan: Plan
    decision: Decision | None = None
    intents: list[Intent] = field(default_factory=list)
    enter: TierMove | None = None
    adopt: list[Intent] = field(default_factory=list)
    adopt_entry: TierMove | None = None
    retarget: TierMove | None = None  # the active entry's deadlines counted again (same tier)
    ladder: list[dict[str, Any]] | None = None  # the ladder steps acted on (for the record)
    tier_from: str | None = None
    notifications: list[Notification] = field(default_factory=list)  # sent after the writes

    def is_empty(self) -> bool:
        """True when there is nothing to write and no message to send."""
        return self.plan.is_empty() and not self.notifications

    @property
    def tier_to(self) -> str | None:
        """The tier the ticket is moved to, if any."""
        return self.enter.tier if self.enter is not None else None


def evaluation_context(ticket: Ticket, facts: Facts) -> EvalContext:
    """Rules fired this episode (ledger and markers on the ticket) and surge neighbours."""
    fired = facts.fired()
    if ticket.comments_loaded:
        fired |= fired_from_markers(ticket.markers(), facts.episode)
    return EvalContext(fired=frozenset(fired), surge_times=dict(facts.surge_times))


def needs_comments(policy: Policy, ticket: Ticket, facts: Facts, now: datetime) -> bool:
    """Whether a rule still undecided without comment text needs them read."""
    if ticket.comments_loaded:
        return False
    return policy.needs_comments(ticket, now, evaluation_context(ticket, facts))


def plan_ticket(
    policy: Policy,
    profile: ConnectorProfile,
    connector: str,
    ticket: Ticket,
    facts: Facts,
    now: datetime,
) -> TicketPlan:
    """Evaluate a ticket on its facts and plan every effect still missing."""
    episode = facts.episode
    adopt, adopt_entry = _adoptions(policy, ticket, facts, now)
    ctx = evaluation_context(ticket, facts)
    decision = policy.evaluate(ticket, now, ctx)
    done = facts.done() | {f"rule:{r}" for r in ctx.fired}
    plan = build_plan(
        connector=connector,
        profile=profile,
        policy=policy,
        ticket=ticket,
        decision=decision,
        episode=episode,
        done_keys=done,
        history=facts.history if decision.matches else History(),
    )
    ledger = {**facts.ledger, **{k: _done(ticket, episode, k, d) for k, d in adopt}}
    plan.tasks += _resolved_tasks(policy, profile, connector, ticket, ledger, decision, plan, now)
    enter = None
    if decision.target_tier and decision.deadlines and plan.update is not None:
        dl = decision.deadlines
        enter = TierMove(decision.target_tier, decision.now, dl.respond_by, dl.resolve_by)
    history = facts.history if decision.matches else History()
    return TicketPlan(
        ticket=ticket,
        episode=episode,
        plan=plan,
        decision=decision,
        intents=rule_intents(decision, plan),
        enter=enter,
        adopt=adopt,
        adopt_entry=adopt_entry,
        tier_from=decision.current_tier,
        notifications=escalation_notices(
            policy, profile, ticket, decision, plan.markers, history, facts.done()
        ),
    )


def _adoptions(
    policy: Policy, ticket: Ticket, facts: Facts, now: datetime
) -> tuple[list[Intent], TierMove | None]:
    """Rules whose marker is on the ticket but not in the ledger (a write whose answer was
    lost, or a state store started afresh), and the tier entry such a marker shows."""
    if not ticket.comments_loaded:
        return [], None
    episode, markers = facts.episode, ticket.markers()
    adopt: list[Intent] = []
    rules = {rule.id for rule in policy.rules}  # ladder markers (remind-…, missed-…) are no rule
    for rule in sorted((fired_from_markers(markers, episode) & rules) - facts.fired()):
        mark = next(m for m in markers if m.startswith(f"{MARKER_PREFIX}{rule}:"))
        adopt.append((f"rule:{rule}", {"marker": mark, "adopted": True, "tier": ticket.tier}))
    tier = ticket.tier
    entry = None
    if tier and facts.entry is None and any(m.endswith(f":{tier}:ep{episode}") for m in markers):
        dl = policy.ticket_deadlines(ticket, tier, now)
        entry = TierMove(tier, now, dl.respond_by, dl.resolve_by)
    return adopt, entry


def _done(ticket: Ticket, episode: int, key: str, detail: dict[str, Any]) -> LedgerEntry:
    """A ledger entry as it reads once an adoption is recorded."""
    return LedgerEntry("", ticket.id, episode, key, "done", detail)


def _resolved_tasks(
    policy: Policy,
    profile: ConnectorProfile,
    connector: str,
    ticket: Ticket,
    ledger: dict[str, LedgerEntry],
    decision: Decision,
    plan: Plan,
    now: datetime,
) -> list[Any]:
    """When an escalated ticket is solved, its playbook's steps anchored on resolution."""
    if ticket.status not in CLOSED_STATUSES:
        return []
    escalations = [
        e.detail
        for k, e in ledger.items()
        if k.startswith("rule:") and e.state == "done" and e.detail.get("tier")
    ]
    if decision.target_tier and plan.update is not None:
        # escalated while already solved: its resolution steps start now, in the same plan
        escalations.append({"tier": decision.target_tier, "playbooks": decision.playbooks})
    if not escalations:
        return []
    last = escalations[-1]
    tier = str(last["tier"])
    resolved_at = ticket.updated_at or now
    specs = policy.resolved_tasks(list(last.get("playbooks") or []), resolved_at, tier)
    why = f"solved {iso(resolved_at)}"
    return tasks_for(connector, profile, ticket, plan.episode, tier, specs, set(ledger), why)


def rule_intents(decision: Decision, plan: Plan) -> list[Intent]:
    """Ledger intents for the rules a plan fires, each with its marker."""
    enter = (
        entry_detail(decision.target_tier, decision.now, decision.deadlines)
        if decision.target_tier and decision.deadlines
        else None
    )
    by_rule = {m[len(MARKER_PREFIX) :].split(":")[0]: m for m in plan.markers}
    intents: list[Intent] = [
        (
            f"rule:{m.rule}",
            {
                "marker": by_rule[m.rule],
                "tier": decision.target_tier,
                "playbooks": decision.playbooks,
                "enter": enter,
            },
        )
        for m in decision.matches
        if m.rule in by_rule
    ]
    if intents and enter and plan.update is not None and plan.update.note:
        # recovery finishes a tier move whose fields landed without the note (RT, Freshdesk)
        intents[0][1]["note"] = plan.update.note
    return intents
