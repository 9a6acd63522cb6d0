"""Turn a decision into the writes still missing for a ticket (pure: no I/O, now passed in).

Same input twice gives an empty second plan: what the ticket already shows (tags, group,
priority) and what the ledger says was done (rules fired, tasks created) is left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from esc_sync.config import ConnectorProfile
from esc_sync.model import (
    MARKER_PREFIX,
    Deadlines,
    Decision,
    Plan,
    TaskCreate,
    TaskSpec,
    Ticket,
    TicketUpdate,
    priority_rank,
)
from esc_sync.plan.facts import History


class TierLike(Protocol):
    """What the planner reads of a tier."""

    id: str
    name: str


class PolicyLike(Protocol):
    """What the planner needs of the policy."""

    def tier(self, tier_id: str) -> Any:
        """The tier definition."""

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """Render a named template."""


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, as helpdesks write it."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def marker(rule: str, tier: str | None, episode: int) -> str:
    """The machine marker a note carries for one fired rule."""
    return f"{MARKER_PREFIX}{rule}:{tier or 'none'}:ep{episode}"


def task_external_id(connector: str, ticket_id: int, episode: int, spec: TaskSpec) -> str:
    """A task's idempotency key: the same step of the same escalation always gets the same id."""
    return f"{MARKER_PREFIX}{connector}:{ticket_id}:ep{episode}:{spec.playbook}:{spec.step}"


def template_context(
    ticket: Ticket,
    decision: Decision,
    policy: PolicyLike,
    history: History,
    markers: list[str],
) -> dict[str, Any]:
    """The context every note and message template receives (RULES.md "Template context")."""

    def tier_info(tier_id: str | None) -> dict[str, str] | None:
        if tier_id is None:
            return None
        return {"id": tier_id, "name": str(policy.tier(tier_id).name)}

    shown_tier = decision.target_tier or decision.current_tier
    return {
        "ticket": {
            "id": ticket.id,
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "type": ticket.type,
            "channel": ticket.channel,
            "tags": list(ticket.tags),
            "created_at": iso(ticket.created_at),
            "updated_at": iso(ticket.updated_at),
            "requester": {
                "name": ticket.requester.name,
                "email": ticket.requester.email,
                "tags": list(ticket.requester.tags),
            },
            "organization": {
                "name": ticket.organization.name,
                "tags": list(ticket.organization.tags),
            },
            "custom": dict(ticket.custom),
        },
        "decision": {
            "tier": tier_info(shown_tier),
            "previous_tier": tier_info(decision.current_tier) if decision.target_tier else None,
            "matches": [
                {
                    "rule": m.rule,
                    "name": m.name,
                    "evidence": [
                        {"field": e.field, "op": e.op, "expected": e.expected, "seen": e.seen}
                        for e in m.evidence
                    ],
                }
                for m in decision.matches
            ],
            "already_fired": list(decision.already_fired),
        },
        "deadlines": (
            {
                "respond_by": iso(decision.deadlines.respond_by),
                "resolve_by": iso(decision.deadlines.resolve_by),
                "target": target_text(decision.deadlines),
            }
            if decision.deadlines
            else None
        ),
        "tasks": [{"title": t.title, "due": iso(t.due)} for t in decision.tasks],
        "history": {
            "prior_tickets": history.prior_tickets,
            "recent_tickets": list(history.recent_tickets),
            "reopens": ticket.reopens,
            "first_agent_reply_at": iso(ticket.first_agent_reply_at),
            "last_agent_reply_at": iso(ticket.last_agent_reply_at),
            "last_customer_reply_at": iso(ticket.last_customer_reply_at),
            "agent_replies": ticket.agent_replies,
            "customer_replies": ticket.customer_replies,
            "last_agent_reply": ticket.last_agent_comment,
            "latest_customer_comment": ticket.latest_customer_comment,
        },
        "marker": " ".join(markers),
    }


def target_text(deadlines: Deadlines | None) -> str | None:
    """The SLA profile and targets a tier entry's deadlines come from, in words."""
    target = deadlines.target if deadlines is not None else None
    return target.describe() if target is not None else None


def build_plan(
    *,
    connector: str,
    profile: ConnectorProfile,
    policy: PolicyLike,
    ticket: Ticket,
    decision: Decision,
    episode: int,
    done_keys: Collection[str],
    history: History | None = None,
) -> Plan:
    """The writes that bring the helpdesk in line with the decision, minus what is done."""
    history = history if history is not None else History()
    plan = Plan(ticket_id=ticket.id, episode=episode)
    new = [m for m in decision.matches if f"rule:{m.rule}" not in done_keys]
    if not new:
        return plan
    shown_tier = decision.target_tier or decision.current_tier
    plan.markers = [marker(m.rule, shown_tier, episode) for m in new]
    update = TicketUpdate(ticket_id=ticket.id, version=ticket.version)

    have = {t.lower() for t in ticket.tags}
    missing = [t for t in decision.tags if t.lower() not in have]
    if missing:
        update.tags = (*ticket.tags, *missing)
    if decision.target_tier:
        group = profile.groups.get(decision.target_tier)
        if group is not None and str(group) != str(ticket.group):
            update.group = group
    if decision.priority and priority_rank(decision.priority) > priority_rank(ticket.priority):
        update.priority = decision.priority
    if decision.status and decision.status != ticket.status:
        update.status = decision.status
    update.custom_fields = _status_fields(profile, decision, new)

    context = template_context(ticket, decision, policy, history, plan.markers)
    body = policy.render(decision.note_template or "briefing", context)
    if not all(m in body for m in plan.markers):
        body = body.rstrip() + "\n\n" + " ".join(plan.markers)
    update.note = body
    if decision.customer_template:
        update.customer_message = policy.render(decision.customer_template, context)
    plan.update = update

    tier = decision.target_tier
    if tier is not None:
        why = f"escalated to {policy.tier(tier).name}"
        plan.tasks = tasks_for(
            connector, profile, ticket, episode, tier, decision.tasks, done_keys, why
        )
    return plan


def tasks_for(
    connector: str,
    profile: ConnectorProfile,
    ticket: Ticket,
    episode: int,
    tier: str,
    specs: list[TaskSpec],
    done_keys: Collection[str],
    why: str,
) -> list[TaskCreate]:
    """Follow-up tasks for playbook steps not created yet, in the tier's group."""
    tasks = []
    for spec in specs:
        ext = task_external_id(connector, ticket.id, episode, spec)
        if f"task:{ext}" in done_keys:
            continue
        tasks.append(
            TaskCreate(
                external_id=ext,
                title=f"[#{ticket.id}] {spec.title}",
                body=(
                    f"Follow-up for ticket #{ticket.id} ({ticket.subject}), {why}. "
                    f"Step {spec.step} of playbook {spec.playbook}: {spec.title}. "
                    f"Due {iso(spec.due)}.\n\n{ext}"
                ),
                due_at=spec.due,
                group=profile.groups.get(tier),
                parent_ticket=ticket.id,
            )
        )
    return tasks


def _status_fields(profile: ConnectorProfile, decision: Decision, new: list[Any]) -> dict[str, Any]:
    """Escalation status and deadlines, for the write-back roles the profile maps."""
    fields: dict[str, Any] = {}
    tier = decision.target_tier or decision.current_tier
    if "escalation_status" in profile.fields:
        rules = ",".join(m.rule for m in new)
        verb = "escalated" if decision.target_tier else "flagged"
        fields["escalation_status"] = f"{tier or 'none'} {verb} ({rules}) at {iso(decision.now)}"
    if decision.deadlines is not None:
        if "respond_by" in profile.fields:
            fields["respond_by"] = iso(decision.deadlines.respond_by)
        if "resolve_by" in profile.fields:
            fields["resolve_by"] = iso(decision.deadlines.resolve_by)
    return fields


def entry_detail(tier: str, at: datetime, deadlines: Deadlines) -> dict[str, str | None]:
    """The tier entry an update makes, for the ledger (recovery re-creates it), with the
    SLA profile and priority its deadlines count for and the targets that applied."""
    detail: dict[str, str | None] = {
        "tier": tier,
        "at": at.isoformat(),
        "respond_by": deadlines.respond_by.isoformat(),
        "resolve_by": deadlines.resolve_by.isoformat(),
    }
    if deadlines.target is not None:
        detail.update(deadlines.target.basis(), target=deadlines.target.describe())
    return detail


def task_detail(task: TaskCreate) -> dict[str, Any]:
    """A task as JSON, for the ledger (enough to re-create it after a crash)."""
    detail = dataclasses.asdict(task)
    detail["due_at"] = task.due_at.isoformat() if task.due_at else None
    return detail


def calls_for(plan: Plan) -> list[str]:
    """The writes a dry run withholds."""
    calls = []
    if plan.update is not None and not plan.update.is_empty():
        calls.append(f"PUT ticket {plan.ticket_id}")
        if plan.update.customer_message:
            calls.append(f"PUT ticket {plan.ticket_id} (public reply)")
    calls.extend(f"POST task {t.external_id}" for t in plan.tasks)
    return calls


def has_reply(ticket: Ticket, message: str) -> bool:
    """Whether the worker's public message is already on the ticket."""
    text = message.strip()
    return any(
        c.public and c.author_role == "worker" and c.body.strip() == text for c in ticket.comments
    )
