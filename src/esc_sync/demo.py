"""`esc-sync demo`: the sandbox helpdesk and the worker, out of the box.

Starts the sandbox on loopback, runs one dry-run cycle (the plan), one live cycle (the writes),
shows what changed in the sandbox with one full briefing note, and runs again to show that a
second cycle writes nothing. Last, real time: with the poll interval an hour, a customer asks
for a manager and the sandbox's signed webhook makes the escalation land within a second or two.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from esc_sync.app import App, build_app
from esc_sync.clock import clock_from_env
from esc_sync.errors import ConfigError
from esc_sync.report import print_report
from esc_sync.sandbox import Sandbox
from esc_sync.sandbox.receivers import JsonReceiver, MailCatcher
from esc_sync.webhooks.server import serve_webhooks
from esc_sync.worker.daemon import Daemon

PROFILE = """type = "zendesk"
base_url = "{url}"
email = "escalations-bot@sandbox.test"
token_env = "ESC_SYNC_DEMO_TOKEN"
start = "30d"

[groups]
t1 = 360000001
t2 = 360000002
t3 = 360000003
t4 = 360000004

[fields]
escalation_status = 360010001
respond_by = 360010002
resolve_by = 360010003
refund_amount = 360010010
"""

FRESHDESK_PROFILE = """type = "freshdesk"
base_url = "{url}"
token_env = "ESC_SYNC_DEMO_TOKEN"
start = "30d"
page_size = 100

[groups]
t1 = 360000001
t2 = 360000002
t3 = 360000003
t4 = 360000004

[fields]
escalation_status = "cf_escalation_status"
respond_by = "fr_due_by"
resolve_by = "due_by"
refund_amount = "cf_refund_amount"
reopens = "cf_reopen_count"

[statuses]
6 = "on_hold"
"""

PROFILES = {"zendesk": PROFILE, "freshdesk": FRESHDESK_PROFILE}

CONFIG = """[worker]
rules = "{rules}"
state = "sqlite:///{work}/demo.db"
audit_log = "{work}/demo-audit.jsonl"

[log]
format = "console"
level = "warning"

[[connectors]]
name = "sandbox"
profile = "sandbox.toml"
"""


def write_demo_config(work: Path, url: str, rules: Path, dialect: str = "zendesk") -> Path:
    """A config and a profile of the sandbox's dialect in `work`, pointing at the sandbox."""
    profile = PROFILES[dialect].format(url=url)
    (work / "sandbox.toml").write_text(profile, encoding="utf-8")
    config = work / "config.toml"
    config.write_text(
        CONFIG.format(rules=rules.resolve().as_posix(), work=work.as_posix()), encoding="utf-8"
    )
    return config


def run_demo(
    console: Console, *, port: int = 0, rules: Path = Path("rules"), dialect: str = "zendesk"
) -> None:
    """Run the whole demo against a fresh sandbox."""
    if not rules.exists():
        raise ConfigError(f"{rules}: policy folder not found (run the demo from the repository)")
    token = "demo-" + secrets.token_hex(8)
    os.environ["ESC_SYNC_DEMO_TOKEN"] = token
    clock = clock_from_env()  # the sandbox and the worker share one clock
    with (
        tempfile.TemporaryDirectory(prefix="esc-sync-demo-") as tmp,
        Sandbox(port=port, token=token, recent_window=0, dialect=dialect, now=clock()) as box,
        MailCatcher() as mail,
        JsonReceiver() as hook,
    ):
        work = Path(tmp)
        # the shipped channels: team leads by mail, specialists and legal by JSON webhook
        os.environ["ESC_SYNC_NOTIFY_TEAM_LEADS"] = mail.url("team-leads@example.test")
        os.environ["ESC_SYNC_NOTIFY_SPECIALISTS"] = hook.url("specialists")
        os.environ["ESC_SYNC_NOTIFY_LEGAL"] = hook.url("legal")
        config = write_demo_config(work, box.url, rules, dialect)
        console.rule("[bold]1. The sandbox helpdesk")
        vendor = dialect.capitalize()
        console.print(f"{vendor}-compatible sandbox at {box.url}, seeded with realistic tickets.")
        app = build_app(config, clock=box.store.clock.now)
        try:
            connector = app.connectors[0]
            connector.check_auth()
            console.rule("[bold]2. Dry run: what the worker would do (nothing is written)")
            dry = app.worker.run_cycle(connector, dry_run=True)
            print_report(console, dry)
            writes = [r for r in _requests(box.url) if r["method"] != "GET"]
            console.print(f"Requests other than GET sent during the dry run: {len(writes)}")
            console.rule("[bold]3. Live run: the same plan, applied")
            live = app.worker.run_cycle(connector)
            print_report(console, live)
            console.rule("[bold]4. What changed in the sandbox")
            _show_changes(console, box.url, [r.ticket for r in live.rows])
            console.rule("[bold]5. Who was told: the demo's mail catcher and JSON receiver")
            _show_messages(console, mail, hook)
            console.rule("[bold]6. A second run writes nothing and sends nothing")
            sent = len(mail.messages) + len(hook.received)
            again = app.worker.run_cycle(connector)
            print_report(console, again)
            more = len(mail.messages) + len(hook.received) - sent
            console.print(f"Messages sent by the second run: {more}")
            console.rule("[bold]7. Real time: a signed webhook, the poll interval an hour")
            _real_time(console, app, box)
            console.print(f"Audit log: {app.config.audit_path} (removed with the demo folder)")
        finally:
            app.close()


def _real_time(console: Console, app: App, box: Sandbox) -> None:
    """A customer asks for a manager; the sandbox's signed webhook makes it land in seconds."""
    secret = "demo-hook-" + secrets.token_hex(8)
    profiles = [
        p.model_copy(update={"webhook_secret": SecretStr(secret)}) for p in app.config.profiles
    ]
    pokes, listener = serve_webhooks("127.0.0.1", 0, profiles, app.worker.clock)
    daemon = Daemon(app.worker, app.connectors, interval_seconds=3600, pokes=pokes)
    loop = threading.Thread(target=daemon.run, name="esc-sync-demo-daemon", daemon=True)
    try:
        loop.start()
        box.send_webhooks(f"{listener.url}/webhooks/sandbox", secret)
        console.print(f"Webhook listener at {listener.url}/webhooks/sandbox; next poll in 1 h.")
        ticket_id = _quiet_open_ticket(box)
        text = "This is the third time I write. I want to speak to a manager."
        console.print(f"Customer on ticket {ticket_id}: [italic]{text}[/italic]")
        requests.post(
            f"{box.url}/__sandbox/tickets/{ticket_id}/comments", json={"body": text}, timeout=10
        )
        changed = time.monotonic()
        while not _notes(box.url, ticket_id) and time.monotonic() - changed < 30:
            time.sleep(0.02)
        took = time.monotonic() - changed
        if _notes(box.url, ticket_id):
            t = _ticket(box.url, ticket_id)
            console.print(
                f"Escalated {took:.2f} s after the customer wrote: group {t.get('group_id')}, "
                f"priority {t.get('priority')}, briefing note written (trigger = webhook)."
            )
        else:
            console.print("[red]The escalation did not land within 30 s.[/red]")
    finally:
        daemon.request_stop()
        loop.join(timeout=30)
        listener.stop()


def _quiet_open_ticket(box: Sandbox) -> int:
    """An open ticket the default rules leave alone (the seed's expectations say so)."""
    expected = requests.get(f"{box.url}/__sandbox/expectations", timeout=10).json()
    for key, outcome in expected.items():
        if outcome.get("rules"):
            continue
        if _ticket(box.url, int(key)).get("status") == "open" and not _notes(box.url, int(key)):
            return int(key)
    raise ConfigError("the sandbox has no quiet open ticket for the real-time step")


def _notes(url: str, ticket_id: int) -> list[str]:
    """The worker's notes on a ticket."""
    comments = _ticket(url, ticket_id).get("comments", [])
    return [c["body"] for c in comments if not c.get("public") and "esc-sync:" in c.get("body", "")]


def _requests(url: str) -> list[dict[str, Any]]:
    """The sandbox's request log."""
    got: list[dict[str, Any]] = requests.get(f"{url}/__sandbox/requests", timeout=10).json()
    return got


def _ticket(url: str, ticket_id: int) -> dict[str, Any]:
    """The sandbox's full record of a ticket."""
    got: dict[str, Any] = requests.get(f"{url}/__sandbox/tickets/{ticket_id}", timeout=10).json()
    inner: dict[str, Any] = got.get("ticket", got)
    return inner


def _show_changes(console: Console, url: str, ticket_ids: list[int]) -> None:
    """A table of the escalated tickets as the helpdesk now has them, and one briefing."""
    table = Table(title="escalated tickets, as the sandbox now stores them")
    for col in ("ticket", "group", "priority", "tags", "escalation status", "notes"):
        table.add_column(col, overflow="fold")
    briefing = None
    for tid in ticket_ids:
        t = _ticket(url, tid)
        comments = t.get("comments", [])
        notes = [c for c in comments if not c.get("public") and "esc-sync:" in c.get("body", "")]
        status = next(
            (f.get("value") for f in t.get("custom_fields", []) if f.get("id") == 360010001), None
        )
        table.add_row(
            str(tid),
            str(t.get("group_id")),
            str(t.get("priority")),
            ", ".join(x for x in t.get("tags", []) if x.startswith("esc-")),
            str(status or "-"),
            str(len(notes)),
        )
        if briefing is None and notes:
            briefing = (tid, notes[-1]["body"])
    console.print(table)
    if briefing:
        console.print(Panel(briefing[1], title=f"briefing note on ticket {briefing[0]}"))


def _show_messages(console: Console, mail: MailCatcher, hook: JsonReceiver) -> None:
    """Every message the local receivers got, and one in full."""
    table = Table(title="messages received (mail catcher on SMTP, JSON receiver on HTTP)")
    for col in ("receiver", "to", "title"):
        table.add_column(col, overflow="fold")
    for message in mail.messages:
        table.add_row("smtp", str(message["To"]), str(message["Subject"]))
    for got, path in zip(hook.received, hook.paths, strict=False):
        table.add_row("json", path, str(got.get("title")))
    console.print(table)
    if mail.messages:
        first = mail.messages[0]
        body = first.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        console.print(Panel(str(text).strip(), title=f"mail: {first['Subject']}"))
