"""Bulk writes in the worker: jobs, per-item outcomes, failed items alone, lost jobs, crashes.

The connector is in memory; the sandbox's own job endpoints are tested over HTTP elsewhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esc_sync.apply.bulk import BulkSettings
from esc_sync.apply.recorder import AuditLog
from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import BulkWriter, JobItem, JobStatus, job_slot
from esc_sync.errors import ConflictError, LeaseLost, TransientError
from esc_sync.model import TaskCreate, Ticket, TicketUpdate
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

from .fakes import Crash, FakeConnector, FakeHelpdesk
from .test_cycle import customer_said, manager_ticket

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class BulkFake(FakeConnector):
    """The fake helpdesk with asynchronous jobs of up to `bulk_limit` items.

    A job runs when it is first polled (or at once with `run_at_submit`). Scripted faults:
    `fail` (keys whose item fails), `never` (jobs that stay running), `vanish` (jobs the
    helpdesk forgets after running them), `kill` (jobs killed before running),
    `lose_answer` (the next submission runs but its answer is lost), `crash_on_poll` (the
    first poll runs the jobs and dies), `crash_on_poll_of` (the same at the first poll of a
    job of that kind). `forgetful`: like a restarted Zendesk worker, which no longer knows
    what it sent, task items are keyed by their place in the job.
    """

    bulk_limit = 10

    def __init__(self, desk: FakeHelpdesk) -> None:
        super().__init__(desk, page_size=200)
        self.jobs: dict[str, dict[str, object]] = {}
        self.fail: set[int | str] = set()
        self.never = False
        self.vanish = False
        self.kill = False
        self.lose_answer = 0
        self.crash_on_poll = False
        self.crash_on_poll_of: str | None = None
        self.forgetful = False

    def _submit(self, kind: str, items: Sequence[object]) -> str:
        assert len(items) <= self.bulk_limit
        job_id = f"V3-{len(self.jobs) + 1:04x}"
        self.jobs[job_id] = {"kind": kind, "items": list(items), "state": "queued"}
        if self.never:
            self.jobs[job_id]["state"] = "stuck"
        if self.lose_answer:
            self.lose_answer -= 1
            self._run(job_id)
            raise TransientError("connection reset after the job was accepted")
        return job_id

    def submit_updates(self, updates: Sequence[TicketUpdate]) -> str:
        self.calls["PUT update_many"] += 1
        return self._submit("updates", updates)

    def submit_tasks(self, tasks: Sequence[TaskCreate]) -> str:
        self.calls["POST create_many"] += 1
        return self._submit("tasks", tasks)

    def _run(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job["state"] != "queued":
            return
        if self.kill:
            job["state"] = "killed"
            return
        results: dict[int | str, JobItem] = {}
        for item in job["items"]:  # type: ignore[attr-defined]
            if isinstance(item, TicketUpdate):
                key: int | str = item.ticket_id
                if key in self.fail:
                    results[key] = JobItem(key=key, ok=False, error="RecordInvalid")
                    continue
                try:
                    FakeConnector.apply_update(self, item)
                except ConflictError:
                    self.calls["PUT ticket"] -= 1  # applied by the job, not a request
                    results[key] = JobItem(key=key, ok=False, error="UpdateConflict",
                                           conflict=True)
                    continue
                self.calls["PUT ticket"] -= 1
                results[key] = JobItem(key=key, ok=True, id=item.ticket_id)
            else:
                assert isinstance(item, TaskCreate)
                key = item.external_id
                if key in self.fail:
                    results[key] = JobItem(key=key, ok=False, error="RecordInvalid")
                    continue
                self.desk.tasks[key] = item
                results[key] = JobItem(key=key, ok=True, id=5000 + len(self.desk.tasks) - 1)
        job["state"] = "vanished" if self.vanish else "completed"
        job["results"] = results

    def poll_jobs(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        self.calls["GET job_statuses"] += 1
        kinds = {self.jobs[j]["kind"] for j in job_ids if j in self.jobs}
        if self.crash_on_poll or self.crash_on_poll_of in kinds:
            self.crash_on_poll, self.crash_on_poll_of = False, None
            for job_id in job_ids:
                self._run(job_id)
            raise Crash("died while waiting for the job")
        out: dict[str, JobStatus] = {}
        for job_id in job_ids:
            self._run(job_id)
            job = self.jobs[job_id]
            state = str(job["state"])
            if state == "vanished":
                continue
            if state == "stuck":
                out[job_id] = JobStatus(id=job_id, state="running")
            elif state == "killed":
                out[job_id] = JobStatus(id=job_id, state="failed", message="killed")
            else:
                items: dict[int | str, JobItem] = dict(job["results"])  # type: ignore[call-overload]
                if self.forgetful and job["kind"] == "tasks":
                    items = {job_slot(i): JobItem(job_slot(i), r.ok, r.id, r.error)
                             for i, r in enumerate(items.values())}
                out[job_id] = JobStatus(id=job_id, state="completed", items=items)
        return out


def burst(desk: FakeHelpdesk, count: int) -> None:
    """`count` tickets whose customer asks for a manager (note, reply, tasks each)."""
    for tid in range(1, count + 1):
        text = "I want to speak to your manager now."
        desk.add(manager_ticket(tid), [customer_said(tid, text)])


def make_worker(tmp_path: Path, **settings: object) -> tuple[Worker, Store]:
    store = Store(tmp_path / "state.db")
    bulk = BulkSettings(
        threshold=int(settings.get("threshold", 5)),  # type: ignore[call-overload]
        wait=float(settings.get("wait", 0.0)),  # type: ignore[arg-type]
        poll_every=0.0,
        sleep=lambda _s: None,
    )
    worker = Worker(policy=load_policy(RULES), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: NOW, bulk=bulk)
    return worker, store


def notes_per_ticket(desk: FakeHelpdesk) -> Counter[int]:
    """How many worker notes (with markers) each ticket got."""
    return Counter(
        tid for tid, comments in desk.comments.items() for c in comments
        if c.author_role == "worker" and not c.public and "esc-sync:" in c.body
    )


def replies_per_ticket(desk: FakeHelpdesk) -> Counter[int]:
    return Counter(
        tid for tid, comments in desk.comments.items() for c in comments
        if c.author_role == "worker" and c.public
    )


def assert_exactly_once(desk: FakeHelpdesk, count: int) -> None:
    assert notes_per_ticket(desk) == Counter(range(1, count + 1))
    assert replies_per_ticket(desk) == Counter(range(1, count + 1))
    for tid in range(1, count + 1):
        assert desk.tickets[tid].tier == "t2", tid
    tasks_per_ticket = Counter(t.parent_ticket for t in desk.tasks.values())
    assert len(set(tasks_per_ticket.values())) == 1, tasks_per_ticket  # same playbook each
    assert set(tasks_per_ticket) == set(range(1, count + 1))


def test_a_burst_goes_through_jobs_not_single_writes(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    assert isinstance(connector, BulkWriter)
    burst(desk, 25)
    worker, store = make_worker(tmp_path)

    report = worker.run_cycle(connector)

    assert report.updates == 25
    assert_exactly_once(desk, 25)
    assert report.tasks_created == len(desk.tasks)
    assert connector.calls["PUT ticket"] == 0  # no single writes
    assert connector.calls["POST task"] == 0
    assert connector.calls["PUT update_many"] == 6  # 3 jobs of updates, 3 of replies
    assert connector.calls["POST create_many"] == -(-len(desk.tasks) // 10)
    assert store.open_intents("fake") == []
    second = worker.run_cycle(connector)
    assert second.updates == 0 and second.tasks_created == 0


def test_jobs_are_polled_soon_after_submission_then_less_often(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 25)
    slept: list[float] = []
    worker, _store = make_worker(tmp_path)
    worker.bulk = BulkSettings(threshold=5, wait=300.0, sleep=slept.append)

    worker.run_cycle(connector)

    # the fake runs a job when first polled: each wave of jobs waits one short pause only
    assert slept and set(slept) == {0.25}
    assert connector.calls["GET job_statuses"] == len(slept)


def test_a_long_pause_between_polls_keeps_the_lease_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.never = True  # the job is still running after the pause: left to recovery
    slept: list[float] = []
    worker, store = make_worker(tmp_path)
    worker.bulk = BulkSettings(
        threshold=5, wait=0.0, poll_every=8.0, sleep=slept.append, keep_alive_every=1.0
    )
    kept: list[tuple[str, int]] = []  # (connector, slices slept so far) at each renewal
    monkeypatch.setattr(store, "keep_alive", lambda name: kept.append((name, len(slept))))

    worker.run_cycle(connector)

    # the 8 s pause before the poll went in 1 s slices, the lease kept alive after each one
    assert slept == [1.0] * 8
    assert kept == [("fake", n) for n in range(1, 9)]


def test_below_the_threshold_writes_one_by_one(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 3)
    worker, _ = make_worker(tmp_path)

    worker.run_cycle(connector)

    assert connector.calls["PUT update_many"] == 0
    assert connector.calls["PUT ticket"] == 6  # update + reply each
    assert_exactly_once(desk, 3)


def test_failed_items_are_retried_alone(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 12)
    connector.fail = {4}
    desk.conflict_next = 0
    worker, store = make_worker(tmp_path)
    # ticket 7 changes after it was read: its item fails the version check
    original_submit = connector.submit_updates

    def submit_and_touch(updates: Sequence[TicketUpdate]) -> str:
        if any(u.ticket_id == 7 and u.note for u in updates):
            desk.touch(7, subject="Billing mess (edited)")
        return original_submit(updates)

    connector.submit_updates = submit_and_touch  # type: ignore[method-assign]

    report = worker.run_cycle(connector)

    assert_exactly_once(desk, 12)
    assert report.conflicts == 1
    assert connector.calls["PUT ticket"] == 4  # tickets 4 and 7 alone: update + reply each
    assert store.open_intents("fake") == []


def test_a_job_that_never_completes_is_left_to_recovery_without_duplicates(
    tmp_path: Path,
) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.never = True
    worker, store = make_worker(tmp_path)

    first = worker.run_cycle(connector)

    assert first.updates == 0
    assert store.open_intents("fake")  # announced, outcome unknown
    assert all("settle_after" in e.detail for e in store.open_intents("fake"))
    # the job still runs: the next cycle leaves those tickets alone
    desk.touch(1, subject="customer wrote again")
    worker.run_cycle(connector)
    assert notes_per_ticket(desk) == Counter()
    assert connector.calls["PUT ticket"] == 0
    # the job finally runs (late): recovery finds the markers and finishes the rest
    for job in connector.jobs.values():
        if job["state"] == "stuck":
            job["state"] = "queued"
    connector.never = False
    worker.run_cycle(connector)
    worker.run_cycle(connector)

    assert_exactly_once(desk, 8)
    assert store.open_intents("fake") == []


def restart_after_crash(tmp_path: Path, connector: BulkFake) -> tuple[CycleReport, Counter[str]]:
    """A cycle that crashes, then a new process's cycle: its report and the calls it made."""
    worker, store = make_worker(tmp_path)
    with pytest.raises(Crash):
        worker.run_cycle(connector)
    assert store.open_intents("fake")
    store.close()
    worker, store = make_worker(tmp_path)
    before = Counter(connector.calls)
    report = worker.run_cycle(connector)
    assert store.open_intents("fake") == []
    spent = Counter(connector.calls)
    spent.subtract(before)
    return report, spent


def test_a_crash_between_submission_and_result(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.crash_on_poll = True  # the update job runs; the worker dies following it

    report, spent = restart_after_crash(tmp_path, connector)

    # the job's outcomes settle every ticket: no ticket is read, no task looked up; the
    # replies and tasks, which wait for the recorded note, are written without looking
    assert report.recovered == 8
    assert spent["GET ticket"] == 0 and spent["GET task by external_id"] == 0
    assert spent["PUT ticket"] == 8 and spent["POST task"] == len(desk.tasks)
    assert_exactly_once(desk, 8)


def test_a_crash_following_the_task_job_is_settled_by_the_slots(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.crash_on_poll_of = "tasks"  # updates and replies recorded; the task job runs
    connector.forgetful = True

    report, spent = restart_after_crash(tmp_path, connector)

    assert report.recovered == 8
    assert spent["GET ticket"] == 0 and spent["GET task by external_id"] == 0
    assert spent["POST task"] == 0 and spent["POST create_many"] == 0
    assert_exactly_once(desk, 8)
    assert max(Counter(t.external_id for t in desk.tasks.values()).values()) == 1


def test_a_failed_item_in_a_finished_job_is_settled_by_reading(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.fail = {3}  # ticket 3's update fails in the job
    connector.crash_on_poll = True

    report, spent = restart_after_crash(tmp_path, connector)

    assert report.recovered == 8
    assert spent["GET ticket"] >= 1  # ticket 3: its note is not on the ticket; planned again
    connector.fail = set()
    worker, _ = make_worker(tmp_path)
    worker.run_cycle(connector)
    assert_exactly_once(desk, 8)


def test_a_vanished_job_is_settled_by_reading_the_markers(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.vanish = True
    worker, store = make_worker(tmp_path)

    worker.run_cycle(connector)

    assert_exactly_once(desk, 8)
    assert store.open_intents("fake") == []


def test_a_killed_job_is_written_again_alone(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.kill = True
    worker, store = make_worker(tmp_path)

    worker.run_cycle(connector)

    # nothing of the killed job landed: each ticket was read and written alone, once
    assert_exactly_once(desk, 8)
    assert connector.calls["PUT ticket"] >= 8
    assert store.open_intents("fake") == []


def test_a_lost_submission_answer_waits_then_settles_once(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 8)
    connector.lose_answer = 1  # the first update job ran, but its answer never came
    clock = [NOW]
    worker, store = make_worker(tmp_path)
    worker.clock = lambda: clock[0]

    worker.run_cycle(connector)
    assert notes_per_ticket(desk) == Counter(range(1, 9))  # the job did run
    assert replies_per_ticket(desk) == Counter()  # the rest waits for the settle time
    worker.run_cycle(connector)
    assert replies_per_ticket(desk) == Counter()
    clock[0] = NOW + timedelta(minutes=11)
    worker.run_cycle(connector)

    assert_exactly_once(desk, 8)
    assert store.open_intents("fake") == []
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert not any(r.get("outcome") == "skipped" for r in audit)


class ListingFake(BulkFake):
    """A bulk fake that can list the account's recent jobs, as Zendesk's job_statuses does."""

    def jobs_in_flight(self) -> bool:
        self.calls["GET job_statuses list"] += 1
        return any(job["state"] in ("queued", "stuck") for job in self.jobs.values())


def test_a_lost_submission_is_settled_at_once_when_no_job_of_the_account_runs(
    tmp_path: Path,
) -> None:
    desk = FakeHelpdesk(NOW)
    connector = ListingFake(desk)
    burst(desk, 8)
    connector.lose_answer = 1  # the first update job ran, but its answer never came
    worker, store = make_worker(tmp_path)
    worker.clock = lambda: NOW + timedelta(seconds=30)  # long before the ten-minute settle time

    worker.run_cycle(connector)
    assert replies_per_ticket(desk) == Counter()  # the rest of the batch waits for recovery
    worker.run_cycle(connector)  # the listing shows nothing in flight: settled now

    assert connector.calls["GET job_statuses list"] >= 1
    assert_exactly_once(desk, 8)
    assert store.open_intents("fake") == []


def test_a_lost_submission_still_waits_while_a_job_of_the_account_runs(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = ListingFake(desk)
    burst(desk, 8)
    connector.lose_answer = 1
    worker, _ = make_worker(tmp_path)
    worker.run_cycle(connector)
    connector.jobs["V3-busy"] = {"kind": "updates", "items": [], "state": "stuck"}  # another
    worker.run_cycle(connector)
    assert replies_per_ticket(desk) == Counter()  # it may be ours: wait as before


def test_the_cli_wrapper_keeps_exactly_the_inner_capabilities() -> None:
    from esc_sync.connectors.base import CommentPrefetcher
    from esc_sync.progress import ObservedConnector

    desk = FakeHelpdesk(NOW)
    assert isinstance(ObservedConnector(BulkFake(desk)), BulkWriter)
    plain = ObservedConnector(FakeConnector(desk))
    assert not isinstance(plain, BulkWriter)
    assert not isinstance(plain, CommentPrefetcher)


def test_a_batch_spans_pages_and_the_bookmark_waits_for_its_writes(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    connector.page_size = 4  # 25 tickets in 7 pages, written as one batch
    burst(desk, 25)
    worker, store = make_worker(tmp_path)
    bookmarks: list[str | None] = []
    original = connector.submit_updates

    def watch(updates: Sequence[TicketUpdate]) -> str:
        bookmarks.append(store.bookmark("fake"))
        return original(updates)

    connector.submit_updates = watch  # type: ignore[method-assign]

    report = worker.run_cycle(connector)

    assert report.pages == 7
    assert_exactly_once(desk, 25)
    assert connector.calls["PUT update_many"] == 6  # 25 updates, 25 replies: 3 jobs each
    assert set(bookmarks) == {None}  # no page was bookmarked before its writes were sent
    assert store.bookmark("fake") is not None


def test_a_ticket_read_twice_in_one_batch_is_planned_once(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    connector.page_size = 4
    burst(desk, 10)
    pages = connector.iter_changes

    def twice(bookmark: str | None, start: datetime):  # type: ignore[no-untyped-def]
        for page in pages(bookmark, start):
            yield page
            if any(t.id == 2 for t in page.tickets):
                desk.touch(2, subject="Billing mess (customer wrote again)")
                # the helpdesk's feed hands ticket 2 out again on a later page
                page.tickets.append(desk.tickets[2])

    connector.iter_changes = twice  # type: ignore[method-assign]
    worker, _ = make_worker(tmp_path)

    worker.run_cycle(connector)

    assert_exactly_once(desk, 10)


def test_a_stop_in_mid_batch_writes_nothing_and_keeps_the_bookmark(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    connector.page_size = 4
    burst(desk, 12)
    worker, store = make_worker(tmp_path)
    seen = [0]

    def stop_on_third_page() -> bool:
        seen[0] += 1
        return seen[0] == 11  # asked per ticket and after each page: the third page's first

    worker.should_stop = stop_on_third_page
    report = worker.run_cycle(connector)

    assert report.stopped_early
    assert notes_per_ticket(desk) == Counter()
    assert store.bookmark("fake") is None and store.open_intents("fake") == []
    worker.should_stop = lambda: False
    worker.run_cycle(connector)
    assert_exactly_once(desk, 12)


class FailSome:
    """Keys of failing job items: ticket 2's update and every task of ticket 4."""

    def __contains__(self, key: object) -> bool:
        return key == 2 or (isinstance(key, str) and ":4:" in key)


class WatchedStore(Store):
    """A store that knows when a page transaction is open."""

    inside = False

    @contextmanager
    def page_writes(self, connector: str) -> Iterator[None]:
        with super().page_writes(connector):
            self.inside, was = True, self.inside
            try:
                yield
            finally:
                self.inside = was


class OutsideOnly(BulkFake):
    """Refuses any single helpdesk read or write made inside a page transaction."""

    store: WatchedStore

    def _check(self, what: str) -> None:
        assert not self.store.inside, f"{what} inside a page transaction"

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        self._check("GET ticket")
        return super().fetch_ticket(ticket_id)

    def apply_update(self, update: TicketUpdate) -> str | None:
        self._check("PUT ticket")
        return super().apply_update(update)

    def find_task(self, external_id: str) -> int | None:
        self._check("task lookup")
        return super().find_task(external_id)

    def create_task(self, task: TaskCreate) -> int:
        self._check("POST task")
        return super().create_task(task)


def test_failed_items_are_written_alone_outside_the_page_transaction(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = OutsideOnly(desk)
    connector.fail = FailSome()  # type: ignore[assignment]
    burst(desk, 8)
    store = WatchedStore(tmp_path / "state.db")
    connector.store = store
    bulk = BulkSettings(threshold=5, wait=0.0, poll_every=0.0, sleep=lambda _s: None)
    worker = Worker(policy=load_policy(RULES), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: NOW, bulk=bulk)

    worker.run_cycle(connector)

    # ticket 2 was read again and written alone, ticket 4's tasks were created alone
    assert connector.calls["GET ticket"] >= 1 and connector.calls["POST task"] >= 1
    assert_exactly_once(desk, 8)
    assert store.open_intents("fake") == []


class LostAfterFirstJob(Store):
    """A store whose lease is lost once the connector has submitted a job."""

    connector: BulkFake

    def check_lease(self, connector: str) -> None:
        if self.connector.jobs:
            raise LeaseLost(f"{connector}: another worker holds the lease")


def test_a_worker_that_lost_its_lease_submits_no_further_job(tmp_path: Path) -> None:
    desk = FakeHelpdesk(NOW)
    connector = BulkFake(desk)
    burst(desk, 25)  # three update jobs of 10 in one wave
    store = LostAfterFirstJob(tmp_path / "state.db")
    store.connector = connector
    bulk = BulkSettings(threshold=5, wait=0.0, poll_every=0.0, sleep=lambda _s: None)
    worker = Worker(policy=load_policy(RULES), store=store,
                    audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: NOW, bulk=bulk)

    with pytest.raises(LeaseLost):
        worker.run_cycle(connector)

    assert connector.calls["PUT update_many"] == 1
    assert connector.calls["POST create_many"] == 0
