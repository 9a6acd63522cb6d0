"""Planning: a ticket and the facts the store knows about it -> a Decision and a Plan.

Pure: no state store, no connector, no clock, no logging. Every effect is data carrying its
ledger key; `esc_sync.apply` performs it.
"""

from esc_sync.plan.facts import Facts, History, fired_from_markers
from esc_sync.plan.ladder import LadderStep, pending_steps, plan_ladder
from esc_sync.plan.ticket import TicketPlan, evaluation_context, needs_comments, plan_ticket
from esc_sync.plan.writes import calls_for, iso

__all__ = [
    "Facts",
    "History",
    "LadderStep",
    "TicketPlan",
    "calls_for",
    "evaluation_context",
    "fired_from_markers",
    "iso",
    "needs_comments",
    "pending_steps",
    "plan_ladder",
    "plan_ticket",
]
