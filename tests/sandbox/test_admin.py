"""The /__sandbox hooks: stored tickets, simulated people, expectations; and `serve` for the CLI."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import requests

from esc_sync.sandbox import BOT_EMAIL, Sandbox, expectations
from tests.sandbox.conftest import Client


def first_with(box: Sandbox, status: str) -> int:
    """The lowest ticket id with this status."""
    return min(t.id for t in box.store.tickets.values() if t.status == status)


def test_stored_ticket_has_every_comment_and_the_metric_set(client: Client, box: Sandbox) -> None:
    tid = next(t.id for t in box.store.tickets.values() if any(not c.public for c in t.comments))

    ticket = client.stored(tid)

    assert len(ticket["comments"]) == len(box.store.tickets[tid].comments)
    assert any(c["public"] is False for c in ticket["comments"])
    assert ticket["metric_set"]["ticket_id"] == tid
    assert isinstance(ticket["generated_timestamp"], int)
    assert client.admin("GET", "tickets/99999").status_code == 404


def test_a_customer_reply_reopens_a_pending_or_solved_ticket(client: Client, box: Sandbox) -> None:
    pending, solved = first_with(box, "pending"), first_with(box, "solved")
    reopens = client.stored(solved)["metric_set"]["reopens"]

    written = client.admin("POST", f"tickets/{pending}/comments", json={"body": "Any update?"})
    client.admin("POST", f"tickets/{solved}/comments", json={"body": "It broke again."})

    assert written.status_code == 201
    comment = written.json()["comment"]
    assert comment["author_id"] == box.store.tickets[pending].requester_id and comment["public"]
    assert client.stored(pending)["status"] == "open"
    assert client.stored(solved)["status"] == "open"
    assert client.stored(solved)["metric_set"]["reopens"] == reopens + 1


def test_an_agent_note_through_the_hook(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")
    agent = box.store.user_by_email("marcus.green@sandbox.test")
    assert agent is not None

    client.admin(
        "POST",
        f"tickets/{tid}/comments",
        json={"author_id": agent.id, "body": "Looking.", "public": False},
    )

    last = client.stored(tid)["comments"][-1]
    assert (last["author_id"], last["public"]) == (agent.id, False)


def test_a_human_edit_moves_the_stamp_and_can_rate_the_ticket(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")
    before = client.stored(tid)

    edited = client.admin(
        "PUT",
        f"tickets/{tid}",
        json={
            "ticket": {
                "priority": "urgent",
                "satisfaction_rating": {"score": "bad", "comment": "meh"},
            }
        },
    )

    assert edited.status_code == 200
    after = client.stored(tid)
    assert after["priority"] == "urgent" and after["satisfaction_rating"]["score"] == "bad"
    assert after["updated_at"] > before["updated_at"]
    assert edited.json()["audit"]["author_id"] != box.store.bot_id
    assert client.get("users/me.json").json()["user"]["email"] == BOT_EMAIL


def test_a_customer_can_open_a_new_ticket(client: Client, box: Sandbox) -> None:
    requester = box.store.user_by_email("pedro.alves@hooli.example")
    assert requester is not None

    created = client.admin(
        "POST",
        "tickets",
        json={
            "ticket": {
                "requester_id": requester.id,
                "subject": "Dashboard down again",
                "comment": {"body": "Blank page."},
                "group_id": 360000001,
            }
        },
    )

    assert created.status_code == 201
    ticket = created.json()["ticket"]
    assert ticket["requester_id"] == requester.id and ticket["status"] == "new"
    assert ticket["organization_id"] == requester.organization_id
    assert ticket["via"]["channel"] == "web"


def test_expectations_endpoint_matches_the_function(client: Client) -> None:
    served = client.admin("GET", "expectations").json()

    assert {int(k): v for k, v in served.items()} == expectations()
    assert all(set(v) == {"rules", "tier"} for v in served.values())


def test_unknown_paths_are_404(client: Client) -> None:
    assert client.admin("GET", "nothing").status_code == 404
    assert client.get("macros.json").status_code == 404
    assert client.get("macros.json").json()["error"] == "InvalidEndpoint"


def test_serve_prints_the_url_and_token_and_stops_on_ctrl_c() -> None:
    code = "from esc_sync.sandbox import serve; serve(0, 70, 'cli-token')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url and "ESC_SYNC_SANDBOX_TOKEN=cli-token" in line and "70 tickets" in line
        me = requests.get(
            f"{url.group(0)}/api/v2/users/me.json",
            auth=(f"{BOT_EMAIL}/token", "cli-token"),
            timeout=10,
        )
        assert me.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0
