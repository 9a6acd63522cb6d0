"""How the clock scales: sweep 100,000 open tickets in the mirror when none / 1 % are due.

    python bench/time_sweep.py [--tickets 100000] [--single] [--json]

Builds a state store whose mirror holds N open tickets (with their comment text, as the worker
keeps it), each with a due instant in the due index. Then, with a connector that only counts
calls, it times `Worker.sweep` when no ticket is due and when 1 % are (urgent tickets whose
"no agent reply for 4 hours" rule has just come due), and reports API calls by kind and the
peak memory of the sweep. Reads must be zero: the clock works from the mirror.

By default the connector writes in bulk jobs as Zendesk does (`update_many` / `create_many`,
100 items a job, each job polled once): the sweep's writes go through the same bulk path as a
polled cycle's. `--single` measures a connector without bulk writes (one request a write).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esc_sync.apply.bulk import BulkSettings
from esc_sync.apply.recorder import AuditLog
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import JobItem, JobStatus, Page
from esc_sync.model import Organization, Person, TaskCreate, Ticket, TicketUpdate
from esc_sync.policy import load_policy
from esc_sync.state.sqlite import Store
from esc_sync.worker.cycle import Worker

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
PROFILE = ConnectorProfile(
    type="zendesk",
    base_url="https://bench.invalid",
    email="bot@bench.invalid",
    token_env="UNUSED",
    groups={"t1": 1, "t2": 2, "t3": 3, "t4": 4},
    fields={"escalation_status": 11, "respond_by": 12, "resolve_by": 13},
    name="bench",
)


class CountingConnector:
    """A connector that answers writes and counts every call; reads are counted as such."""

    def __init__(self) -> None:
        self.name = "bench"
        self.profile = PROFILE
        self.calls: Counter[str] = Counter()

    def check_auth(self) -> None:
        """Nothing to check."""

    def iter_changes(self, bookmark: str | None, start: datetime) -> Iterator[Page]:
        """No changes: the sweep alone is measured."""
        self.calls["read: change feed"] += 1
        yield Page(tickets=[], bookmark=bookmark or "0", end_of_stream=True)

    def load_comments(self, ticket: Ticket) -> Ticket:
        """A read the clock must not need."""
        self.calls["read: comments"] += 1
        return ticket

    def fetch_ticket(self, ticket_id: int) -> Ticket:
        """A read the clock must not need."""
        self.calls["read: ticket"] += 1
        raise AssertionError("the sweep read a ticket")

    def fetch_tickets(self, ticket_ids: Sequence[int]) -> list[Ticket]:
        """A read the clock must not need."""
        self.calls["read: tickets"] += 1
        return []

    def apply_update(self, update: TicketUpdate) -> str | None:
        """A write: accepted."""
        self.calls["write: ticket update"] += 1
        return f"v{self.calls['write: ticket update']}"

    def find_task(self, external_id: str) -> int | None:
        """A read used only by crash recovery."""
        self.calls["read: task lookup"] += 1
        return None

    def create_task(self, task: TaskCreate) -> int:
        """A write: accepted."""
        self.calls["write: task create"] += 1
        return self.calls["write: task create"]


class BulkCountingConnector(CountingConnector):
    """The counting connector with Zendesk-style bulk jobs that complete at once."""

    bulk_limit = 100

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, JobStatus] = {}

    def submit_updates(self, updates: Sequence[TicketUpdate]) -> str:
        """One `update_many` request."""
        self.calls["write: update_many"] += 1
        items = {u.ticket_id: JobItem(key=u.ticket_id, ok=True) for u in updates}
        return self._job(items)

    def submit_tasks(self, tasks: Sequence[TaskCreate]) -> str:
        """One `create_many` request."""
        self.calls["write: create_many"] += 1
        base = self.calls["write: task create"] + 10_000 * len(self._jobs)
        items: dict[int | str, JobItem] = {
            t.external_id: JobItem(key=t.external_id, ok=True, id=base + i)
            for i, t in enumerate(tasks)
        }
        return self._job(items)

    def poll_jobs(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """One `job_statuses/show_many` request."""
        self.calls["jobs: status poll"] += 1
        return {j: self._jobs[j] for j in job_ids if j in self._jobs}

    def _job(self, items: dict[int | str, JobItem]) -> str:
        job_id = f"job-{len(self._jobs) + 1}"
        self._jobs[job_id] = JobStatus(id=job_id, state="completed", items=items)
        return job_id


def fill_mirror(store: Store, count: int, due_share: float) -> int:
    """N open tickets in the mirror; `due_share` of them urgent and just past 4 h unanswered."""
    due_every = int(1 / due_share) if due_share else 0
    store.db.execute("BEGIN")
    due_count = 0
    for tid in range(1, count + 1):
        is_due = bool(due_every) and tid % due_every == 0
        created = NOW - timedelta(hours=4, minutes=1) if is_due else NOW - timedelta(hours=1)
        ticket = Ticket(
            id=tid,
            subject=f"Question {tid} about invoices",
            description="How do I export?",
            status="open",
            priority="urgent" if is_due else "normal",
            tier="t1",
            group=1,
            created_at=created,
            updated_at=created,
            agent_replies=0,
            reopens=0,
            latest_customer_comment="How do I export my invoices?",
            customer_comments="How do I export my invoices?",
            customer_replies=0,
            requester=Person(id=100000 + tid),
            organization=Organization(id=7, name="Acme"),
            version="v0",
        )
        store.observe("bench", ticket)
        due_at = created + timedelta(hours=4) if is_due else NOW + timedelta(hours=3)
        store.set_due("bench", tid, due_at)
        due_count += is_due
    store.db.execute("COMMIT")
    return due_count


def measure(count: int, due_share: float, bulk: bool = True) -> dict[str, object]:
    """One sweep over a fresh store; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        due = fill_mirror(store, count, due_share)
        policy = load_policy(ROOT / "rules")
        worker = Worker(
            policy=policy,
            store=store,
            audit=AuditLog(None),
            clock=lambda: NOW,
            bulk=BulkSettings(sleep=lambda _s: None),
        )
        connector = BulkCountingConnector() if bulk else CountingConnector()
        tracemalloc.start()
        started = time.perf_counter()
        report = worker.sweep(connector)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        reads = sum(n for k, n in connector.calls.items() if k.startswith("read"))
        writes = sum(n for k, n in connector.calls.items() if k.startswith("write"))
        return {
            "mode": "bulk" if bulk else "single",
            "open_tickets": count,
            "due": due,
            "seconds": round(elapsed, 4),
            "ms_per_due_ticket": round(elapsed * 1000 / due, 3) if due else None,
            "escalated": report.updates,
            "api_reads": reads,
            "api_writes": writes,
            "job_polls": connector.calls["jobs: status poll"],
            "calls": dict(connector.calls),
            "sweep_peak_mb": round(peak / 2**20, 2),
            "process_max_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "due_index_after": store.due_index_size("bench"),
        }


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--single", action="store_true", help="no bulk jobs: one request a write")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    bulk = not args.single
    rows = [measure(args.tickets, 0.0, bulk), measure(args.tickets, 0.01, bulk)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    keys = (
        "mode",
        "open_tickets",
        "due",
        "seconds",
        "ms_per_due_ticket",
        "escalated",
        "api_reads",
        "api_writes",
        "job_polls",
        "sweep_peak_mb",
        "process_max_rss_mb",
    )
    print(" | ".join(f"{k:>18}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k]!s:>18}" for k in keys))
    for row in rows:
        print(f"{row['mode']}, {row['due']} due: calls {row['calls']}")
    return 0 if all(row["api_reads"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.channels import default_channels

    with default_channels():  # the default policy's channels need their addresses
        sys.exit(main())
