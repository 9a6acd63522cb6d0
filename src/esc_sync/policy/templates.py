"""Briefing notes and customer messages: Jinja templates rendered in a sandbox.

Templates come only from the policy's `templates/` folder; ticket text reaches them as data
(values in the context), never as template source, so `{{ 7*7 }}` typed by a customer is printed
as written. The sandbox refuses attribute tricks such as `''.__class__`, and StrictUndefined makes
a misspelt name an error when the policy is checked instead of a silent blank in a note.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

SUFFIX = ".md.j2"


def format_time(value: Any) -> str:
    """The `ts` filter: a datetime or ISO-8601 text as "2026-03-02 10:00 EST"; None as "-"."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return str(value.strftime("%Y-%m-%d %H:%M %Z")).strip()
    return str(value)


class Templates:
    """The templates of one policy folder, in a sandboxed environment."""

    def __init__(self, folder: Path) -> None:
        """Prepare the environment; templates are read lazily and cached by Jinja."""
        self.folder = folder
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(folder)),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["ts"] = format_time

    def names(self) -> list[str]:
        """Template names ("briefing" for templates/briefing.md.j2), sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name[: -len(SUFFIX)] for p in self.folder.glob("*" + SUFFIX))

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Render a template by name ("briefing" or "briefing.md.j2") with a context."""
        filename = name if name.endswith(SUFFIX) else name + SUFFIX
        return self.env.get_template(filename).render(context)

    def check(self) -> list[tuple[str, str]]:
        """Compile and test-render every template; return (file name, problem) pairs."""
        problems: list[tuple[str, str]] = []
        for name in self.names():
            problem = self._check_one(name + SUFFIX)
            if problem:
                problems.append((name + SUFFIX, problem))
        return problems

    def _check_one(self, filename: str) -> str | None:
        """The first problem of one template, or None."""
        try:
            template = self.env.get_template(filename)
        except TemplateSyntaxError as exc:
            return f"line {exc.lineno}: {exc.message}"
        except (TemplateNotFound, OSError, UnicodeDecodeError) as exc:
            return f"cannot read: {exc}"
        for context in (sample_context(), sample_context(minimal=True)):
            try:
                template.render(context)
            except SecurityError as exc:
                return f"unsafe: {exc}"
            except UndefinedError as exc:
                return f"undefined name: {exc.message}"
            except Exception as exc:  # any other failure is reported, not raised at run time
                return f"fails with the sample context: {type(exc).__name__}: {exc}"
        return None


def sample_context(*, minimal: bool = False) -> dict[str, Any]:
    """A representative template context; `minimal` leaves every optional part empty."""
    created = datetime.fromisoformat("2026-03-02T09:12:00-05:00")
    updated = datetime.fromisoformat("2026-03-02T10:01:00-05:00")
    ticket = {
        "id": 4821,
        "subject": "Charged twice for my March invoice",
        "status": "open",
        "priority": "high",
        "type": "incident" if not minimal else None,
        "channel": "email" if not minimal else None,
        "tags": ["billing", "vip"] if not minimal else [],
        "created_at": created,
        "updated_at": updated,
        "requester": {
            "name": "Dana Whitfield" if not minimal else None,
            "email": "dana@northwind.example" if not minimal else None,
            "tags": ["vip"] if not minimal else [],
        },
        "organization": {
            "name": "Northwind Traders" if not minimal else None,
            "tags": ["enterprise"] if not minimal else [],
        },
        "custom": {"refund_amount": 750} if not minimal else {},
        "url": "https://acme.zendesk.com/agent/tickets/4821",
    }
    evidence = {
        "field": "latest_customer_comment",
        "op": "matches",
        "expected": r"(?i)\b(manager|supervisor)\b",
        "seen": "supervisor",
    }
    decision = {
        "tier": {"id": "t2", "name": "Team lead"},
        "previous_tier": None if minimal else {"id": "t1", "name": "Frontline"},
        "matches": [
            {
                "rule": "manager-request",
                "name": "Customer asks for a manager",
                "evidence": [evidence],
            }
        ],
        "already_fired": [] if minimal else ["vip-high-priority"],
    }
    history = {
        "prior_tickets": 0 if minimal else 3,
        "recent_tickets": []
        if minimal
        else [
            {"id": 4700, "subject": "Invoice missing", "status": "solved", "created_at": created}
        ],
        "reopens": 0 if minimal else 1,
        "first_agent_reply_at": None if minimal else updated,
        "last_agent_reply_at": None if minimal else updated,
        "last_customer_reply_at": None if minimal else updated,
        "agent_replies": 0 if minimal else 1,
        "customer_replies": 1 if minimal else 2,
        "last_agent_reply": None if minimal else "We have asked billing to look at this.",
        "latest_customer_comment": "I want to speak to your supervisor now.",
    }
    return {
        "ticket": ticket,
        "decision": decision,
        "deadlines": None
        if minimal
        else {
            "respond_by": "2026-03-02T12:01:00-05:00",
            "resolve_by": "2026-03-03T10:01:00-05:00",
            "target": "gold, t2 urgent: respond within 15m (gold target), resolve within 2h "
            "(gold target) on the 24x7 calendar",
        },
        "tasks": []
        if minimal
        else [{"title": "Listen and acknowledge", "due": "2026-03-02T12:01:00-05:00"}],
        "history": history,
        "marker": "esc-sync:manager-request:t2:ep1",
        # notifications (RULES.md "Notifications"): which event, and for a repeat its number
        "event": "escalated" if minimal else "repeat",
        "repeat": 0 if minimal else 2,
    }
