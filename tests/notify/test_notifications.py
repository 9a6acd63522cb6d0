"""Notifications end to end on the fake helpdesk, with real receivers on loopback: one
`escalated` per channel and ticket, repeats until the tier responds, a dry run that sends
nothing, failures that never cost a helpdesk write, and a crash that repeats one message."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from esc_sync.apply.recorder import AuditLog
from esc_sync.model import Comment
from esc_sync.notify import Notifier
from esc_sync.policy import load_policy
from esc_sync.sandbox.receivers import JsonReceiver, MailCatcher
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker
from tests.worker.fakes import Crash, FakeConnector, FakeHelpdesk
from tests.worker.test_bulk import NOW, RULES, notes_per_ticket
from tests.worker.test_cycle import customer_said, manager_ticket


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture()
def leads(monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonReceiver]:
    """The team-leads channel's own receiver."""
    with JsonReceiver() as receiver:
        monkeypatch.setenv("ESC_SYNC_NOTIFY_TEAM_LEADS", receiver.url("leads"))
        yield receiver


def make_worker(tmp_path: Path, clock: Clock, crash=None) -> Worker:  # type: ignore[no-untyped-def]
    worker = Worker(policy=load_policy(RULES), store=Store(tmp_path / "state.db"),
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=clock,
                    crash_point=crash or (lambda point: None))
    worker.applier.messages.notifier = Notifier(sleep=lambda _s: None, attempts=1)
    return worker


def audit(tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def manager_tickets(desk: FakeHelpdesk, count: int) -> None:
    for tid in range(1, count + 1):
        desk.add(manager_ticket(tid), [customer_said(tid, "I want to speak to your manager.")])


def test_each_escalated_ticket_tells_its_tier_channel_once(tmp_path: Path, leads) -> None:  # type: ignore[no-untyped-def]
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 3)

    dry = make_worker(tmp_path, clock).run_cycle(connector, dry_run=True)
    assert leads.received == []  # a dry run lists the messages and sends none
    assert dry.notifications[("team-leads", "escalated", "planned")] == 3
    withheld = [r for r in audit(tmp_path) if r.get("dry_run") and r["outcome"] == "dry-run"]
    assert all("NOTIFY team-leads escalated" in r["calls"]["withheld"] for r in withheld)

    report = make_worker(tmp_path, clock).run_cycle(connector)
    assert report.notifications[("team-leads", "escalated", "sent")] == 3
    titles = leads.titles()
    assert sorted(titles) == sorted(
        f"[Escalated] #{tid} Billing mess - Team lead (t2), respond by "
        + titles[0].split("respond by ")[1]
        for tid in (1, 2, 3)
    )
    assert all("https://" in m["message"] for m in leads.received)  # the agent's link

    make_worker(tmp_path, clock).run_cycle(connector)
    assert len(leads.received) == 3  # a second run sends nothing


def test_a_tier_that_does_not_respond_hears_again_up_to_repeat_max(tmp_path: Path, leads) -> None:  # type: ignore[no-untyped-def]
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 1)
    worker = make_worker(tmp_path, clock)
    worker.run_cycle(connector)
    assert worker.store.next_due("fake") == NOW + timedelta(minutes=30)  # the first repeat

    for minutes in (31, 45, 61, 91, 121, 151):
        clock.now = NOW + timedelta(minutes=minutes)
        worker.sweep(connector)
    events = Counter(t.split("]")[0][1:] for t in leads.titles())
    assert events["Escalated"] == 1
    assert events["Still waiting"] == 3  # repeat_max
    keys = set(worker.store.ledger("fake", 1, 1))
    assert {f"notify:t2:team-leads:repeat:{n}" for n in (1, 2, 3)} <= keys


def test_a_response_stops_the_repeats(tmp_path: Path, leads) -> None:  # type: ignore[no-untyped-def]
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 1)
    worker = make_worker(tmp_path, clock)
    worker.run_cycle(connector)
    clock.now = NOW + timedelta(minutes=31)
    worker.sweep(connector)
    assert len(leads.received) == 2

    clock.now = NOW + timedelta(minutes=40)
    desk.comments[1].append(Comment(id=99, author_id=7, body="Calling you now.", public=True,
                                    created_at=clock.now, author_role="agent"))
    desk.touch(1)
    worker.run_cycle(connector)
    for minutes in (61, 91, 121):
        clock.now = NOW + timedelta(minutes=minutes)
        worker.sweep(connector)
    titles = leads.titles()
    assert not [t for t in titles[2:] if t.startswith("[Still waiting]")]


@pytest.mark.parametrize("fault", ["500", "refused", "timeout"])
def test_a_failing_channel_is_retried_then_dead_lettered_and_costs_no_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 2)
    with JsonReceiver() as receiver:
        url = {
            "500": receiver.url("leads"),
            "refused": "json://127.0.0.1:9/leads",
            "timeout": receiver.url("leads", rto="0.3", cto="0.3"),
        }[fault]
        if fault == "500":
            receiver.fail = [500] * 8
        if fault == "timeout":
            receiver.delay = 1.0
        monkeypatch.setenv("ESC_SYNC_NOTIFY_TEAM_LEADS", url)
        worker = make_worker(tmp_path, clock)
        pauses: list[float] = []
        worker.applier.messages.notifier = Notifier(sleep=pauses.append, attempts=1)
        report = worker.run_cycle(connector)
        assert notes_per_ticket(desk) == Counter({1: 1, 2: 1})  # the helpdesk writes all landed
        assert report.notifications[("team-leads", "escalated", "retrying")] == 2
        assert pauses == []  # nothing waits in the cycle: the next attempts go through the ledger
        entry = worker.store.ledger("fake", 1, 1)["notify:t2:team-leads:escalated:0"]
        assert entry.state == "intent" and entry.detail["attempts"] == 1
        assert worker.store.dead_letters("fake") == []
        early = worker.run_cycle(connector)  # before its time: not tried, the ticket not held
        assert sum(early.notifications.values()) == 0 and early.skipped == 0
        outcomes: Counter[str] = Counter()
        for wait in (30, 60, 120):  # the pause grows: 30 s, 1 min, 2 min
            clock.now += timedelta(seconds=wait + 1)
            later = worker.run_cycle(connector)
            outcomes.update(o for (_c, _e, o), n in later.notifications.items() for _ in range(n))
        assert outcomes == Counter({"retrying": 4, "failed": 2})
    if fault == "500":
        assert receiver.attempts == 8  # four attempts for each of the two messages
    assert notes_per_ticket(desk) == Counter({1: 1, 2: 1})
    dead = worker.store.dead_letters("fake")
    assert len(dead) == 2 and all("team-leads" in d["reason"] for d in dead)
    entry = worker.store.ledger("fake", 1, 1)["notify:t2:team-leads:escalated:0"]
    assert entry.state == "done" and entry.detail["outcome"] == "failed"
    assert entry.detail["attempts"] == 4
    clock.now += timedelta(hours=1)  # (reminders and repeats come due by now: other messages)
    again = make_worker(tmp_path, clock).run_cycle(connector)
    assert not [k for k in again.notifications if k[1] == "escalated"]  # dead, not sent again


@pytest.mark.parametrize(("point", "copies"), [("after-update", 1), ("after-send", 2)])
def test_a_crash_around_the_send_repeats_at_most_one_message(
    tmp_path: Path, leads: JsonReceiver, point: str, copies: int
) -> None:
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 1)

    def die(at: str) -> None:
        if at == point:
            raise Crash(at)

    with pytest.raises(Crash):
        make_worker(tmp_path, clock, die).run_cycle(connector)
    restarted = make_worker(tmp_path, clock)
    restarted.run_cycle(connector)
    assert len(leads.received) == copies
    assert restarted.store.open_intents("fake") == []
    repeats = [r for r in audit(tmp_path) if r.get("possible_repeat")]
    assert len(repeats) == copies - 1  # the audit says which message may be a repeat
    make_worker(tmp_path, clock).run_cycle(connector)
    assert len(leads.received) == copies


def test_mail_reaches_an_smtp_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 1)
    with MailCatcher() as mail:
        monkeypatch.setenv("ESC_SYNC_NOTIFY_TEAM_LEADS", mail.url("leads@example.test"))
        make_worker(tmp_path, clock).run_cycle(connector)
    assert len(mail.messages) == 1
    message = mail.messages[0]
    assert message["Subject"].startswith("[Escalated] #1 Billing mess")
    assert message["To"] == "leads@example.test"


SECRET = "s3cr3t-t0ken-xyz"


def test_no_address_leaks_into_logs_audit_state_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    desk, clock = FakeHelpdesk(NOW), Clock()
    connector = FakeConnector(desk)
    manager_tickets(desk, 1)
    monkeypatch.setenv("ESC_SYNC_NOTIFY_TEAM_LEADS", f"json://bot:{SECRET}@127.0.0.1:9/{SECRET}")
    logging.getLogger("apprise").setLevel(logging.DEBUG)  # Apprise logs URLs at debug
    caplog.set_level(logging.DEBUG)
    try:
        make_worker(tmp_path, clock).run_cycle(connector)
    finally:
        logging.getLogger("apprise").setLevel(logging.WARNING)
    assert SECRET not in caplog.text
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()
    with sqlite3.connect(tmp_path / "state.db") as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump
    assert "team-leads" in dump  # the dead letter is there, naming the channel
