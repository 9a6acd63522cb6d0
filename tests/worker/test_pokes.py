"""Webhook pokes in the worker: a re-read through the connector, the same plan and apply path
as a polled change, the bookmark untouched; and the daemon waking on a poke."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from esc_sync.webhooks.queue import PokeQueue
from esc_sync.worker.daemon import Daemon

from .fakes import FakeConnector, FakeHelpdesk
from .test_cycle import customer_said, manager_ticket, world  # noqa: F401  (fixture)

QUIET = "The invoice PDF is blank; could you resend it?"


def audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class CountingConnector(FakeConnector):
    """A fake connector that also lists every ticket id it re-read."""

    def __init__(self, desk: FakeHelpdesk) -> None:
        super().__init__(desk)
        self.reread: list[int] = []

    def fetch_tickets(self, ticket_ids):  # type: ignore[no-untyped-def]
        self.reread.extend(ticket_ids)
        return super().fetch_tickets(ticket_ids)


def test_poke_escalates_like_a_polled_change_without_moving_the_bookmark(world) -> None:  # noqa: F811
    desk, connector, worker, store, audit = world
    desk.add(manager_ticket(), [customer_said(1, "I want to speak to your manager now.")])

    report = worker.run_pokes(connector, [1])

    assert report.updates == 1 and report.tickets_read == 1
    assert desk.tickets[1].tier == "t2"
    assert store.bookmark("fake") is None
    assert "GET changes" not in connector.calls
    records = [r for r in audit_lines(audit) if r.get("ticket") == 1]
    assert records and all(r["trigger"] == "webhook" for r in records)
    # the poller, reconciling later, finds the work done: same ledger, same markers
    polled = worker.run_cycle(connector)
    assert polled.updates == 0
    assert not any("trigger" in r for r in audit_lines(audit)[len(records) :])


def test_a_burst_of_1000_pokes_for_10_tickets_is_10_rereads(world) -> None:  # noqa: F811
    desk, _, worker, _, _ = world
    connector = CountingConnector(desk)
    for tid in range(1, 11):
        desk.add(manager_ticket(tid), [customer_said(tid, "Get me a supervisor.")])
    pokes = PokeQueue()
    for i in range(1000):
        pokes.put("fake", 1 + i % 10)

    report = worker.run_pokes(connector, pokes.take("fake"))

    assert sorted(connector.reread) == list(range(1, 11))
    assert report.updates == 10
    assert worker.run_pokes(connector, list(range(1, 11))).updates == 0  # nothing twice


def test_a_poke_for_a_ticket_the_policy_leaves_alone_writes_nothing(world) -> None:  # noqa: F811
    desk, connector, worker, _, _ = world
    desk.add(manager_ticket(description=QUIET), [customer_said(1, QUIET)])

    report = worker.run_pokes(connector, [1])

    assert report.tickets_read == 1 and report.updates == 0
    assert desk.writes == []
    assert connector.calls["PUT ticket"] == 0


def test_a_poke_for_an_unknown_ticket_is_dropped(world) -> None:  # noqa: F811
    _, connector, worker, _, _ = world
    report = worker.run_pokes(connector, [404])
    assert report.tickets_read == 0 and report.updates == 0


def test_a_dry_run_poke_writes_nothing(world) -> None:  # noqa: F811
    desk, connector, worker, _, audit = world
    desk.add(manager_ticket(), [customer_said(1, "I want to speak to your manager now.")])
    report = worker.run_pokes(connector, [1], dry_run=True)
    assert report.matched == 1 and desk.writes == []
    assert audit_lines(audit)[-1]["trigger"] == "webhook"


def test_the_daemon_wakes_on_a_poke_not_at_the_next_poll(world) -> None:  # noqa: F811
    desk, connector, worker, _, _ = world
    pokes = PokeQueue()
    daemon = Daemon(worker, [connector], interval_seconds=3600, pokes=pokes)
    loop = threading.Thread(target=daemon.run)
    loop.start()
    try:
        time.sleep(0.3)  # the first poll is done
        desk.add(manager_ticket(), [customer_said(1, "I want to speak to your manager now.")])
        poked = time.monotonic()
        pokes.put("fake", 1)
        while not desk.writes and time.monotonic() - poked < 5:
            time.sleep(0.01)
        assert desk.writes, "the poke was not handled"
        assert time.monotonic() - poked < 1.0
        pokes.put("someone-elses", 5)  # not ours: left for whoever runs that connector
        time.sleep(0.1)
        assert pokes.pending("someone-elses") == 1
    finally:
        daemon.request_stop()
        loop.join(timeout=5)
    assert not loop.is_alive()
