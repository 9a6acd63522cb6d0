"""What the default policy must leave in RT, read back from RT's own tables, and the CLI runner."""

from __future__ import annotations

import base64
import os
import quopri
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esc_sync.clock import NOW_VARIABLE
from tests.rt.rtlive import QUEUE_TIER, REPO, Rt, Seeded
from tests.rt.scenarios import Scenario

TIERS = ("t1", "t2", "t3", "t4")
MARKER = "esc-sync:"


def default_rules() -> dict[str, dict[str, Any]]:
    """rules/triggers.toml by rule id (escalate_to, tags)."""
    doc = tomllib.loads((REPO / "rules" / "triggers.toml").read_text(encoding="utf-8"))
    return {rule["id"]: rule["then"] for rule in doc["rules"]}


def expected_tier(scenario: Scenario, rules: dict[str, dict[str, Any]]) -> str:
    """Escalation never lowers a tier: the highest of the ticket's and its rules' tiers."""
    tiers = [scenario.tier, *(rules[r].get("escalate_to") or "t1" for r in scenario.rules)]
    return max(tiers, key=TIERS.index)


def esc_sync(*args: str, rt: Rt, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, with the bot's token in the profile's variable."""
    return subprocess.run(
        [sys.executable, "-m", "esc_sync", *args],
        capture_output=True, text=True, env=cli_env(rt), timeout=timeout, check=False, cwd=REPO,
    )


def cli_env(rt: Rt) -> dict[str, str]:
    return {**os.environ, "ESC_SYNC_RT_TOKEN": rt.token, "NO_COLOR": "1", "COLUMNS": "200",
            NOW_VARIABLE: rt.server_now().isoformat()}


@dataclass
class TicketState:
    """One ticket as RT holds it, with what the worker is expected to write."""

    id: int
    queue: str
    tier: str | None
    status: str
    due: str | None
    custom: dict[str, list[str]] = field(default_factory=dict)
    bot_comments: list[str] = field(default_factory=list)
    bot_replies: list[str] = field(default_factory=list)
    children: list[TicketState] = field(default_factory=list)

    def one(self, name: str) -> str | None:
        values = self.custom.get(name) or []
        return values[0] if values else None


def _decode(content: bytes | str | None, encoding: str | None) -> str:
    if content is None:
        return ""
    raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
    if encoding == "base64":
        raw = base64.b64decode(raw)
    elif encoding == "quoted-printable":
        raw = quopri.decodestring(raw)
    return raw.decode("utf-8", "replace")


def read_tickets(rt: Rt, ids: Sequence[int]) -> dict[int, TicketState]:
    """Queue, status, custom fields, the bot's comments and replies, and child tickets."""
    with rt.sql() as conn:
        bot = conn.execute("SELECT id FROM Users WHERE Name = ?", (rt.bot,)).fetchone()[0]
        queues = dict(conn.execute("SELECT id, Name FROM Queues"))
        cf_names = dict(conn.execute("SELECT id, Name FROM CustomFields"))

        def load(tid: int) -> TicketState:
            queue, status, due = conn.execute(
                "SELECT Queue, Status, Due FROM Tickets WHERE id = ?", (tid,)).fetchone()
            state = TicketState(
                tid, queues[queue], QUEUE_TIER.get(queues[queue]), status,
                None if due is None or due.startswith("1970-01-01") else due,
            )
            for cf, content in conn.execute(
                "SELECT CustomField, Content FROM ObjectCustomFieldValues WHERE "
                "ObjectType = 'RT::Ticket' AND ObjectId = ? AND Disabled = 0 ORDER BY id", (tid,)
            ):
                state.custom.setdefault(cf_names[cf], []).append(content)
            for kind, content, encoding in conn.execute(
                "SELECT x.Type, a.Content, a.ContentEncoding FROM Transactions x "
                "JOIN Attachments a ON a.TransactionId = x.id WHERE x.ObjectType = 'RT::Ticket' "
                "AND x.ObjectId = ? AND x.Creator = ? AND x.Type IN ('Comment', 'Correspond') "
                "AND a.Content IS NOT NULL ORDER BY x.id, a.id", (tid, bot)
            ):
                text = _decode(content, encoding)
                (state.bot_comments if kind == "Comment" else state.bot_replies).append(text)
            return state

        out: dict[int, TicketState] = {}
        for tid in ids:
            state = load(tid)
            for (child,) in conn.execute(
                "SELECT LocalBase FROM Links WHERE Type = 'MemberOf' AND LocalTarget = ? "
                "ORDER BY LocalBase", (tid,)
            ):
                state.children.append(load(child))
            out[tid] = state
    return out


def escalation_problems(
    rt: Rt,
    seeded: Seeded,
    *,
    tasks: dict[int, set[str]] | None = None,
    deadlines: dict[int, tuple[datetime, datetime]] | None = None,
) -> list[str]:
    """Every way the expected tickets differ from what the default policy must leave.

    `tasks`: the follow-up task ids each ticket must have (from a plan), when known;
    `deadlines`: the (respond_by, resolve_by) the worker decided (from its audit log), when known.
    """
    rules = default_rules()
    problems: list[str] = []
    states = read_tickets(rt, sorted(seeded.expected))
    for tid, scenario in seeded.expected.items():
        state = states[tid]
        where = f"#{tid} {scenario.subject!r}"
        tier = expected_tier(scenario, rules)
        if state.tier != tier:
            problems.append(f"{where}: queue {state.queue!r}, expected the {tier} queue")
        tags = set(state.custom.get("Tags") or [])
        for rule in scenario.rules:
            missing = set(rules[rule].get("tags") or []) - tags
            if missing:
                problems.append(f"{where}: tags {sorted(tags)} lack {sorted(missing)} ({rule})")
        if not set(scenario.tags) <= tags:
            problems.append(f"{where}: original tags {scenario.tags} lost: {sorted(tags)}")
        # Deadlines come with entering a tier; a ticket already at or above it keeps its own.
        written = ("Escalation Status", "Respond By", "Resolve By")
        for name in written if tier != scenario.tier else written[:1]:
            if not state.one(name):
                problems.append(f"{where}: custom field {name!r} not set")
        if deadlines is not None and tid in deadlines:
            for name, want in zip(("Respond By", "Resolve By"), deadlines[tid], strict=True):
                got = state.one(name)
                if got and _rt_time(got) != want:
                    problems.append(f"{where}: {name} is {got} UTC, decided {want.isoformat()}")
        briefings = [c for c in state.bot_comments if MARKER in c]
        if len(briefings) != 1:
            problems.append(f"{where}: {len(briefings)} briefing comments with markers")
        else:
            for rule in scenario.rules:
                if f"{MARKER}{rule}:" not in briefings[0]:
                    problems.append(f"{where}: the briefing has no marker for {rule}")
        task_ids = [child.one("Task Id") for child in state.children]
        if len(task_ids) != len(set(task_ids)):
            problems.append(f"{where}: duplicated follow-up tasks {sorted(map(str, task_ids))}")
        for child in state.children:
            if not child.one("Task Id"):
                problems.append(f"{where}: child #{child.id} has no Task Id")
            if not child.due:
                problems.append(f"{where}: child #{child.id} has no Due")
        if tasks is not None and set(map(str, task_ids)) != tasks.get(tid, set()):
            problems.append(
                f"{where}: tasks {sorted(map(str, task_ids))}, planned {sorted(tasks.get(tid, []))}"
            )
        if tier != scenario.tier and not state.children:
            problems.append(f"{where}: escalated to {tier} without follow-up tasks")
    return problems


def _rt_time(text: str) -> datetime:
    """A DateTime custom field as RT stores it: `YYYY-MM-DD HH:MM:SS` in UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def decided_deadlines(audit: Path) -> dict[int, tuple[datetime, datetime]]:
    """The deadlines of every applied escalation in an audit log, per ticket (the last one)."""
    import json

    found: dict[int, tuple[datetime, datetime]] = {}
    for line in audit.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        marks = record.get("deadlines")
        if record.get("outcome") == "applied" and marks and record.get("ticket") is not None:
            found[int(record["ticket"])] = (
                datetime.fromisoformat(marks["respond_by"]).astimezone(UTC),
                datetime.fromisoformat(marks["resolve_by"]).astimezone(UTC),
            )
    return found


def planned_tasks(audit: Path) -> dict[int, set[str]]:
    """Task ids each ticket's records planned (from the audit log of a run)."""
    import json

    tasks: dict[int, set[str]] = {}
    for line in audit.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        planned = record.get("planned") or {}
        if record.get("ticket") is None:
            continue
        for task in planned.get("tasks") or []:
            tasks.setdefault(int(record["ticket"]), set()).add(task["external_id"])
    return tasks
