"""An independent reading of the nine default rules, applied to the sandbox's JSON.

It looks only at what a connector would see (ticket, comments, metric set, organization), so a
passing seed test means the seed's expectations hold for the data as served.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from esc_sync.sandbox.render import metric_set_json, organization_json, ticket_json
from esc_sync.sandbox.store import Store

MANAGER = re.compile(r"(?i)\b(manager|supervisor|someone in charge|escalate this)\b")
LEGAL = re.compile(
    r"(?i)\b(lawyer|attorney|solicitor|sue you|suing|lawsuit|legal action|chargeback|regulator"
    r"|ombudsman)\b"
)
OUTAGE = re.compile(r"(?i)\b(down|outage|cannot log ?in|can't log ?in|not loading)\b")
OPEN_ISH = {"new", "open", "pending", "hold"}


def _time(text: str) -> datetime:
    """Parse a Zendesk timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _view(store: Store, ticket_id: int) -> dict[str, Any]:
    """The ticket as JSON with its comments, metric set and organization."""
    ticket = store.tickets[ticket_id]
    body = ticket_json(store, ticket, "")
    body["comments"] = [(c.author_id, c.body, c.public) for c in ticket.comments]
    body["metrics"] = metric_set_json(store, ticket, "")
    org = store.organizations.get(ticket.organization_id or 0)
    body["org_tags"] = organization_json(org, "")["tags"] if org else []
    return body


def evaluate(store: Store, now: datetime) -> dict[int, list[str]]:
    """Which default rules each ticket triggers."""
    views = {tid: _view(store, tid) for tid in sorted(store.tickets)}
    recent = now - timedelta(days=30)
    per_requester: dict[int, int] = {}
    for v in views.values():
        if _time(v["created_at"]) >= recent:
            per_requester[v["requester_id"]] = per_requester.get(v["requester_id"], 0) + 1
    outage = [v for v in views.values() if v["status"] in OPEN_ISH and OUTAGE.search(v["subject"])]
    starts = sorted(_time(v["created_at"]) for v in outage)
    out: dict[int, list[str]] = {}
    for tid, v in views.items():
        open_ish = v["status"] in OPEN_ISH
        said = [
            body for author, body, public in v["comments"] if author == v["requester_id"] and public
        ]
        m = v["metrics"]
        custom = {f["id"]: f["value"] for f in v["custom_fields"]}
        created = _time(v["created_at"])
        hits = []
        if open_ish and said and MANAGER.search(said[-1]):
            hits.append("manager-request")
        if open_ish and any(LEGAL.search(s) for s in said):
            hits.append("legal-threat")
        if (
            open_ish
            and v["priority"] in ("high", "urgent")
            and {"vip", "enterprise"} & set(v["org_tags"])
        ):
            hits.append("vip-high-priority")
        if open_ish and (m["reopens"] >= 2 or per_requester.get(v["requester_id"], 0) >= 3):
            hits.append("repeat-issue")
        if (
            v["status"] in ("new", "open")
            and v["priority"] == "urgent"
            and m["replies"] == 0
            and m["reply_time_in_minutes"]["calendar"] is None
            and created < now - timedelta(hours=4)
        ):
            hits.append("urgent-no-reply")
        if v in outage and any(
            s <= created <= s + timedelta(hours=1)
            and sum(s <= t <= s + timedelta(hours=1) for t in starts) >= 5
            for s in starts
        ):
            hits.append("outage-surge")
        if (v["satisfaction_rating"] or {}).get("score") == "bad" and v["status"] != "closed":
            hits.append("bad-satisfaction")
        if open_ish and (custom.get(360010010) or 0) >= 500:
            hits.append("financial-impact")
        if open_ish and "needs_approval" in v["tags"]:
            hits.append("needs-approval")
        out[tid] = hits
    return out
