"""Budget-minutes: how long a job's requests take at the published rate limits of each plan.

A helpdesk rations requests per minute, and some endpoints have a budget of their own. A job
needs, per plan, the longest of its budgets' times: requests against a budget / its limit.

Zendesk (helpdesk-apis.md A3.3, A7): Team 200/min, Enterprise 700/min, High Volume add-on
2,500/min for the API at large; the incremental exports (cursor ticket export and the
ticket-event export alike) 10/min, 30/min with High Volume. An export request is counted
against the export budget, every other request against the general one.

Freshdesk (B6, support article 225439): Growth 200/min (Tickets List 20, Contacts List 20),
Pro 400/min (100/100), Enterprise 700/min (200/200). Every request counts against the plan's
limit; the list endpoints also against their own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

_EXPORT = re.compile(r"^GET /api/v2/incremental/")
_FD_TICKET_LIST = re.compile(r"^GET /api/v2/tickets(\?|$)")
_FD_CONTACT_LIST = re.compile(r"^GET /api/v2/contacts(\?|$)")


@dataclass(frozen=True)
class Plan:
    """A plan's limits, requests per minute by budget name."""

    name: str
    limits: Mapping[str, float]


ZENDESK = (
    Plan("Team", {"general": 200, "export": 10}),
    Plan("Enterprise", {"general": 700, "export": 10}),
    Plan("High Volume", {"general": 2500, "export": 30}),
)
FRESHDESK = (
    Plan("Growth", {"general": 200, "ticket_list": 20, "contact_list": 20}),
    Plan("Pro", {"general": 400, "ticket_list": 100, "contact_list": 100}),
    Plan("Enterprise", {"general": 700, "ticket_list": 200, "contact_list": 200}),
)


def zendesk_budgets(calls: Mapping[str, int]) -> dict[str, int]:
    """Requests per Zendesk budget: the incremental exports apart from the rest."""
    out: Counter[str] = Counter({"general": 0, "export": 0})
    for endpoint, n in calls.items():
        out["export" if _EXPORT.match(endpoint) else "general"] += n
    return dict(out)


def freshdesk_budgets(calls: Mapping[str, int]) -> dict[str, int]:
    """Requests per Freshdesk budget: all of them, and the ticket and contact lists again."""
    out: Counter[str] = Counter({"general": 0, "ticket_list": 0, "contact_list": 0})
    for endpoint, n in calls.items():
        out["general"] += n
        if _FD_TICKET_LIST.match(endpoint):
            out["ticket_list"] += n
        elif _FD_CONTACT_LIST.match(endpoint):
            out["contact_list"] += n
    return dict(out)


def minutes(budgets: Mapping[str, int], plan: Plan) -> float:
    """The job's budget-minutes on `plan`: its slowest budget."""
    return max((budgets.get(name, 0) / limit for name, limit in plan.limits.items()), default=0)


def per_plan(calls: Mapping[str, int], helpdesk: str) -> tuple[dict[str, int], dict[str, float]]:
    """(requests by budget, budget-minutes by plan name) for a helpdesk's request counts."""
    if helpdesk == "freshdesk":
        budgets, plans = freshdesk_budgets(calls), FRESHDESK
    else:
        budgets, plans = zendesk_budgets(calls), ZENDESK
    return budgets, {plan.name: round(minutes(budgets, plan), 2) for plan in plans}
