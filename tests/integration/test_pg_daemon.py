"""The daemon on a real PostgreSQL loses its connections in mid-run: the cycle fails, is logged
once, the next one retries, and nothing is written twice."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from esc_sync.demo import write_demo_config
from tests.frozen import child_env, frozen_sandbox
from tests.pg import fresh_database, pg_server

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "rules"
TOKEN = "pg-daemon-token-0b7e"


def markers(box_url: str, ticket_id: int) -> list[str]:
    got = requests.get(f"{box_url}/__sandbox/tickets/{ticket_id}", timeout=10).json()
    ticket = got.get("ticket", got)
    return [
        word
        for c in ticket["comments"]
        if not c["public"]
        for word in c["body"].split()
        if word.startswith("esc-sync:")
    ]


def wait_until(predicate: object, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.3)
    return False


def test_connections_cut_in_mid_run_fail_a_cycle_once_and_repeat_nothing(tmp_path: Path) -> None:
    server = pg_server()
    with (
        frozen_sandbox(port=0, token=TOKEN, recent_window=0) as box,
        fresh_database() as url,
    ):
        config = write_demo_config(tmp_path, box.url, RULES)
        text = re.sub(r'^state = ".*"$', f'state = "{url}"', config.read_text(), flags=re.M)
        text = text.replace('format = "console"', 'format = "json"').replace(
            'level = "warning"', 'level = "info"'
        )
        config.write_text(text.replace("audit_log", 'poll_interval = "1s"\naudit_log', 1))
        log = (tmp_path / "worker.log").open("wb")
        env = child_env({"ESC_SYNC_DEMO_TOKEN": TOKEN, **server.env()})
        proc = subprocess.Popen(
            [sys.executable, "-m", "esc_sync", "run", "--config", str(config)],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            requester = requests.get(f"{box.url}/__sandbox/tickets/1", timeout=10).json()[
                "ticket"
            ]["requester_id"]

            def open_ticket(n: int) -> int:
                got = requests.post(
                    f"{box.url}/__sandbox/tickets",
                    json={"ticket": {"subject": f"Refund {n}", "requester_id": requester,
                                     "comment": {"body": "Please let me speak to a manager."}}},
                    timeout=10,
                )
                return int(got.json()["ticket"]["id"])

            first = open_ticket(1)
            assert wait_until(lambda: markers(box.url, first)), "the first ticket was not handled"
            for _ in range(3):  # cut every connection of the worker, three times
                with psycopg.connect(server.url, autocommit=True) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (url.rsplit("/", 1)[1],),
                    )
                time.sleep(1.5)
            second = open_ticket(2)
            assert wait_until(lambda: markers(box.url, second)), "no recovery after the cuts"
            time.sleep(3)  # a few more cycles: nothing may be written again
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        text = (tmp_path / "worker.log").read_text()
        assert text.count("state database unavailable; will retry") >= 1, text[-2000:]
        assert "state database reachable again" in text
        for ticket in (first, second):
            found = markers(box.url, ticket)
            assert found and len(found) == len(set(found)), found
        assert proc.returncode == 0
