"""The live Request Tracker the `rt` suite runs against: its env file, REST 2 and SQL access,
the seed of the scenarios, and the worker's config pointing at it.

RT keeps no log of the requests it served, so "nothing was written" is checked on RT's own
record of every change: the highest transaction id (and the rows of the tickets) before and
after a run, read with SQL from the instance's SQLite file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

from tests.rt.scenarios import CUSTOMERS, PRIORITY, Scenario

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ENV = REPO / ".rt" / "env"
TIER_QUEUE = {f"t{n}": f"Support T{n}" for n in range(1, 5)}
QUEUE_TIER = {queue: tier for tier, queue in TIER_QUEUE.items()}
AGENT = {f"t{n}": f"agent{n}" for n in range(1, 5)}
RT_TIME = "%Y-%m-%d %H:%M:%S"  # how RT stores times (UTC) in SQL and reads them in TicketSQL


def read_env(path: Path) -> dict[str, str]:
    """Shell-style KEY=value lines (as written by scripts/rt-up)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass
class Rt:
    """One running RT instance, as described by its env file."""

    url: str
    token: str
    db: Path
    bot: str
    root_user: str
    root_password: str
    run_dir: Path | None = None
    _root: requests.Session | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Rt:
        return cls(
            url=env["RT_URL"].rstrip("/"),
            token=env["RT_TOKEN"],
            db=Path(env["RT_DB"]),
            bot=env.get("RT_BOT_USER", "escalation-bot"),
            root_user=env.get("RT_ROOT_USER", "root"),
            root_password=env.get("RT_ROOT_PASSWORD", ""),
            run_dir=Path(env["RT_RUN_DIR"]) if env.get("RT_RUN_DIR") else None,
        )

    # ---------------------------------------------------------------- HTTP
    def answers(self) -> str | None:
        """None when REST 2 answers the bot's token, else why not."""
        try:
            response = requests.get(
                f"{self.url}/REST/2.0/rt",
                headers={"Authorization": f"token {self.token}"},
                timeout=5,
            )
        except requests.RequestException as exc:
            return f"{self.url} unreachable ({type(exc).__name__})"
        if response.status_code != 200:
            return f"{self.url}/REST/2.0/rt answered {response.status_code}"
        return None

    def server_now(self) -> datetime:
        """RT's own clock (its `Date` header): the seed and the worker count from it, so the
        suite agrees with RT even when this process runs under libfaketime."""
        response = requests.get(
            f"{self.url}/REST/2.0/rt", headers={"Authorization": f"token {self.token}"}, timeout=10
        )
        stamp = response.headers.get("Date")
        if not stamp:
            return datetime.now(UTC)
        return parsedate_to_datetime(stamp).astimezone(UTC)

    @property
    def root(self) -> requests.Session:
        """A keep-alive session authenticated as RT's root (basic auth), for seeding."""
        if self._root is None:
            self._root = requests.Session()
            self._root.auth = (self.root_user, self.root_password)
            self._root.headers["Content-Type"] = "application/json"
        return self._root

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.root.request(method, f"{self.url}/REST/2.0/{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.call("GET", f"ticket/{ticket_id}")  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- SQL
    @contextmanager
    def sql(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def max_transaction(self) -> int:
        with self.sql() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM Transactions").fetchone()[0])

    def ticket_count(self) -> int:
        with self.sql() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM Tickets").fetchone()[0])

    def user_ids(self) -> dict[str, int]:
        with self.sql() as conn:
            return {name: uid for uid, name in conn.execute("SELECT id, Name FROM Users")}

    def snapshot(self, ticket_ids: list[int]) -> dict[int, tuple[Any, ...]]:
        """Every column of the given tickets, their custom field values and transaction ids."""
        marks = ",".join("?" * len(ticket_ids))
        with self.sql() as conn:
            rows = {r[0]: r for r in conn.execute(
                f"SELECT * FROM Tickets WHERE id IN ({marks})", ticket_ids)}
            cfs: dict[int, list[tuple[Any, ...]]] = {tid: [] for tid in ticket_ids}
            for r in conn.execute(
                "SELECT ObjectId, CustomField, Content, Disabled FROM ObjectCustomFieldValues "
                f"WHERE ObjectType = 'RT::Ticket' AND ObjectId IN ({marks}) ORDER BY id",
                ticket_ids,
            ):
                cfs[r[0]].append(r[1:])
            txns: dict[int, list[int]] = {tid: [] for tid in ticket_ids}
            for tid, txn in conn.execute(
                "SELECT ObjectId, id FROM Transactions WHERE ObjectType = 'RT::Ticket' "
                f"AND ObjectId IN ({marks}) ORDER BY id",
                ticket_ids,
            ):
                txns[tid].append(txn)
        return {tid: (rows.get(tid), tuple(cfs[tid]), tuple(txns[tid])) for tid in ticket_ids}


# -------------------------------------------------------------------- seeding
def ago(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhd])", text)
    assert match, text
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@dataclass
class Seeded:
    """The tickets a seed created: id -> scenario, and when it was made."""

    now: datetime
    tickets: dict[int, Scenario]

    @property
    def expected(self) -> dict[int, Scenario]:
        return {tid: s for tid, s in self.tickets.items() if s.rules}

    @property
    def decoys(self) -> dict[int, Scenario]:
        return {tid: s for tid, s in self.tickets.items() if not s.rules}


def _customer_body(key: str) -> dict[str, Any]:
    person = CUSTOMERS[key]
    body: dict[str, Any] = {
        "Name": person.email,
        "EmailAddress": person.email,
        "RealName": person.name,
        "Privileged": 0,
    }
    if person.organization:
        body["Organization"] = person.organization
    if person.tags:
        body["CustomFields"] = {"Customer Tags": list(person.tags)}
    return body


def seed(rt: Rt, scenarios: tuple[Scenario, ...], now: datetime | None = None) -> Seeded:
    """Create the scenarios through REST 2 (as root), then give every ticket its past with SQL:
    creation and transaction times within the last three days, and the right author (the
    requester for the description and customer messages, the tier's agent for the rest)."""
    now = (now or rt.server_now()).replace(microsecond=0)
    known = rt.user_ids()
    for key in sorted({s.requester for s in scenarios}):
        if CUSTOMERS[key].email not in known:
            rt.call("POST", "user", json=_customer_body(key))
    users = rt.user_ids()

    # per ticket: [(highest transaction id after the step, when, author id)]
    steps: dict[int, list[tuple[int, datetime, int]]] = {}
    tickets: dict[int, Scenario] = {}
    for scenario in scenarios:
        created = now - ago(scenario.ago)
        customer = users[CUSTOMERS[scenario.requester].email]
        agent = users[AGENT[scenario.tier]]
        custom: dict[str, Any] = {}
        if scenario.tags:
            custom["Tags"] = list(scenario.tags)
        if scenario.refund is not None:
            custom["Refund Amount"] = scenario.refund
        if scenario.satisfaction is not None:
            custom["Satisfaction"] = scenario.satisfaction
        (kind, first), *rest = scenario.thread
        assert kind == "c", scenario.subject
        made = rt.call("POST", "ticket", json={
            "Queue": TIER_QUEUE[scenario.tier],
            "Subject": scenario.subject,
            "Requestor": CUSTOMERS[scenario.requester].email,
            "Content": first,
            "ContentType": "text/plain",
            "Priority": PRIORITY[scenario.priority],
            "CustomFields": custom,
        })
        tid = int(made["id"])
        tickets[tid] = scenario
        log = [(_last_txn(rt, tid), created, customer)]
        gap = min(timedelta(minutes=10), ago(scenario.ago) / (len(scenario.thread) + 2))
        when = created
        for kind, text in rest:
            when += gap
            if kind == "s":
                rt.call("PUT", f"ticket/{tid}", json={"Status": text})
            else:
                verb = "comment" if kind == "n" else "correspond"
                rt.call("POST", f"ticket/{tid}/{verb}",
                        json={"Content": text, "ContentType": "text/plain"})
            log.append((_last_txn(rt, tid), when, customer if kind == "c" else agent))
        if rt.ticket(tid)["Status"] != scenario.status:
            when += gap
            rt.call("PUT", f"ticket/{tid}", json={"Status": scenario.status})
            log.append((_last_txn(rt, tid), when, agent))
        steps[tid] = log
    _backdate(rt, steps)
    _check_backdated(rt, steps)
    return Seeded(now=now, tickets=tickets)


def _last_txn(rt: Rt, ticket_id: int) -> int:
    with rt.sql() as conn:
        row = conn.execute(
            "SELECT MAX(id) FROM Transactions WHERE ObjectType = 'RT::Ticket' AND ObjectId = ?",
            (ticket_id,),
        ).fetchone()
    return int(row[0])


def _backdate(rt: Rt, steps: dict[int, list[tuple[int, datetime, int]]]) -> None:
    with rt.sql() as conn:
        for tid, log in steps.items():
            low = 0
            for high, when, author in log:
                stamp = when.strftime(RT_TIME)
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM Transactions WHERE ObjectType = 'RT::Ticket' AND ObjectId = ? "
                    "AND id > ? AND id <= ?", (tid, low, high))]
                for txn in ids:
                    conn.execute("UPDATE Transactions SET Created = ?, Creator = ? WHERE id = ?",
                                 (stamp, author, txn))
                    conn.execute("UPDATE Attachments SET Created = ?, Creator = ? "
                                 "WHERE TransactionId = ?", (stamp, author, txn))
                low = high
            created, last = log[0][1].strftime(RT_TIME), log[-1][1].strftime(RT_TIME)
            conn.execute(
                "UPDATE ObjectCustomFieldValues SET Created = ?, LastUpdated = ?, Creator = ?, "
                "LastUpdatedBy = ? WHERE ObjectType = 'RT::Ticket' AND ObjectId = ?",
                (created, created, log[0][2], log[0][2], tid),
            )
            conn.execute(
                "UPDATE Tickets SET Created = ?, Creator = ?, LastUpdated = ?, LastUpdatedBy = ?, "
                "Started = CASE WHEN Started > '1970-01-02' THEN ? ELSE Started END, "
                "Resolved = CASE WHEN Resolved > '1970-01-02' THEN ? ELSE Resolved END, "
                "Told = CASE WHEN Told > '1970-01-02' THEN ? ELSE Told END WHERE id = ?",
                (created, log[0][2], last, log[-1][2], last, last, last, tid),
            )


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_backdated(rt: Rt, steps: dict[int, list[tuple[int, datetime, int]]]) -> None:
    """RT serves the backdated values (no stale cache)."""
    for tid, log in steps.items():
        got = rt.ticket(tid)
        assert got["Created"] == _iso(log[0][1]), (tid, got["Created"])
        assert got["LastUpdated"] == _iso(log[-1][1]), (tid, got["LastUpdated"])
    tid, log = next(iter(steps.items()))
    history = rt.call("GET", f"ticket/{tid}/history", params={"fields": "Created,Creator,Type"})
    first = history["items"][0]
    assert first["Type"] == "Create" and first["Created"] == _iso(log[0][1]), first


# -------------------------------------------------------------------- the worker's config
PROFILE = """type = "rt"
base_url = "{url}"
token_env = "ESC_SYNC_RT_TOKEN"
email = "{bot}"
start = "7d"
page_size = 100

[groups]
t1 = "Support T1"
t2 = "Support T2"
t3 = "Support T3"
t4 = "Support T4"

[fields]
escalation_status = "Escalation Status"
respond_by = "Respond By"
resolve_by = "Resolve By"
tags = "Tags"
task_id = "Task Id"
satisfaction = "Satisfaction"
organization_tags = "Customer Tags"
refund_amount = "Refund Amount"

[priorities]
low = 0
normal = 25
high = 50
urgent = 75
"""

CONFIG = """[worker]
rules = "{rules}"
state = "sqlite:///{work}/esc-sync.db"
audit_log = "{work}/audit.jsonl"

[log]
format = "json"
level = "info"

[[connectors]]
name = "rt"
profile = "rt.toml"
"""


def write_config(work: Path, rt: Rt, rules: Path = REPO / "rules") -> Path:
    """A worker config with a fresh state store and audit log in `work`, pointing at `rt`."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "rt.toml").write_text(PROFILE.format(url=rt.url, bot=rt.bot), encoding="utf-8")
    config = work / "config.toml"
    config.write_text(CONFIG.format(rules=rules.as_posix(), work=work.as_posix()), encoding="utf-8")
    return config
