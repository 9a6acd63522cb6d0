"""Writing over HTTP: ticket updates, safe_update conflicts, closed tickets, follow-up tasks."""

from __future__ import annotations

import json
from pathlib import Path

from esc_sync.sandbox import BOT_EMAIL, Sandbox
from tests.sandbox.conftest import Client, open_ids

FIXTURES = Path("/work/shared/fixtures")
BOT_ID = 381000000001


def first_with(box: Sandbox, status: str) -> int:
    """The lowest ticket id with this status."""
    return min(t.id for t in box.store.tickets.values() if t.status == status)


def test_update_writes_fields_and_a_note_in_one_audit(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")
    before = client.stored(tid)

    answer = client.put_ticket(
        tid,
        {
            "tags": ["esc-manager-request", "billing", "esc-manager-request"],
            "group_id": 360000002,
            "priority": "high",
            "custom_fields": [
                {"id": 360010001, "value": "t2"},
                {"id": 360010002, "value": "2026-03-02T12:00:00Z"},
            ],
            "comment": {"body": "Escalated. esc-sync:manager-request:t2:ep1", "public": False},
            "safe_update": True,
            "updated_stamp": before["updated_at"],
            "not_a_field": 1,
        },
    )

    assert answer.status_code == 200, answer.text
    ticket, audit = answer.json()["ticket"], answer.json()["audit"]
    assert ticket["tags"] == ["esc-manager-request", "billing"]
    assert (ticket["group_id"], ticket["priority"]) == (360000002, "high")
    assert {"id": 360010001, "value": "t2"} in ticket["custom_fields"]
    assert ticket["updated_at"] > before["updated_at"]
    assert audit["ticket_id"] == tid and audit["author_id"] == BOT_ID
    kinds = [(e["type"], e.get("field_name")) for e in audit["events"]]
    assert ("Change", "group_id") in kinds and ("Comment", None) in kinds
    after = client.stored(tid)
    assert after["generated_timestamp"] >= before["generated_timestamp"]
    note = after["comments"][-1]
    assert (note["author_id"], note["public"]) == (BOT_ID, False)
    assert "esc-sync:manager-request:t2:ep1" in note["body"]
    assert after["metric_set"]["group_stations"] == before["metric_set"]["group_stations"] + 1
    assert answer.headers["zendesk-rate-limit-tickets-update"].startswith(
        "total=100; remaining=99;"
    )


def test_a_stale_safe_update_is_refused_and_changes_nothing(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")
    stale = client.get(f"tickets/{tid}.json").json()["ticket"]["updated_at"]
    client.admin("PUT", f"tickets/{tid}", json={"ticket": {"priority": "low"}})
    before = client.stored(tid)

    answer = client.put_ticket(
        tid,
        {
            "group_id": 360000002,
            "tags": ["x"],
            "comment": {"body": "note", "public": False},
            "safe_update": True,
            "updated_stamp": stale,
        },
    )

    assert answer.status_code == 409
    assert answer.json()["error"] == "UpdateConflict"
    assert client.stored(tid) == before


def test_safe_update_false_still_checks_the_stamp(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")

    answer = client.put_ticket(
        tid, {"tags": ["x"], "safe_update": False, "updated_stamp": "2001-01-01T00:00:00Z"}
    )

    assert answer.status_code == 409


def test_back_to_back_updates_always_move_updated_at(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")
    stamps = []
    for tag in ("a", "b", "c"):
        stamp = client.stored(tid)["updated_at"]
        got = client.put_ticket(tid, {"tags": [tag], "safe_update": True, "updated_stamp": stamp})
        assert got.status_code == 200
        stamps.append(got.json()["ticket"]["updated_at"])

    assert stamps == sorted(set(stamps))


def test_an_update_that_changes_nothing_leaves_timestamps_alone(
    client: Client, box: Sandbox
) -> None:
    tid = first_with(box, "open")
    before = client.stored(tid)

    answer = client.put_ticket(tid, {"status": before["status"], "tags": before["tags"]})

    assert answer.status_code == 200 and answer.json()["audit"]["events"] == []
    assert client.stored(tid)["generated_timestamp"] == before["generated_timestamp"]


def test_a_closed_ticket_cannot_be_updated(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "closed")
    recorded = json.loads((FIXTURES / "synthetic/zendesk_error_422_closed_ticket.json").read_text())

    answer = client.put_ticket(tid, {"tags": ["x"]})

    assert answer.status_code == 422
    assert answer.json() == recorded


def test_invalid_values_are_refused_with_record_invalid(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "open")

    bad_status = client.put_ticket(tid, {"status": "on_hold"})
    bad_group = client.put_ticket(tid, {"group_id": 123})
    bad_json = client.api(
        "PUT", f"tickets/{tid}.json", data="{nope", headers={"Content-Type": "application/json"}
    )

    assert bad_status.status_code == 422 and "status" in bad_status.json()["details"]
    assert bad_group.status_code == 422 and "group_id" in bad_group.json()["details"]
    assert bad_json.status_code == 400 and isinstance(bad_json.json()["error"], dict)


def test_reopening_a_solved_ticket_counts_in_the_metric_set(client: Client, box: Sandbox) -> None:
    tid = first_with(box, "solved")
    before = client.stored(tid)["metric_set"]["reopens"]

    client.put_ticket(tid, {"status": "open"})

    assert client.stored(tid)["metric_set"]["reopens"] == before + 1


def test_public_agent_replies_count_as_replies(client: Client, box: Sandbox) -> None:
    tid = next(i for i, e in box.expectations.items() if "urgent-no-reply" in e["rules"])

    client.put_ticket(tid, {"comment": {"body": "We're on it."}})

    metrics = client.stored(tid)["metric_set"]
    assert metrics["replies"] == 1 and metrics["reply_time_in_minutes"]["calendar"] is not None


def test_create_a_follow_up_task_and_find_it_by_external_id(client: Client, box: Sandbox) -> None:
    task = {
        "type": "task",
        "subject": "Call the customer back",
        "due_at": "2026-03-02T17:00:00Z",
        "group_id": 360000002,
        "external_id": "esc-sync:task:12:manager-review:1:ep1",
        "tags": ["esc-task"],
        "comment": {"body": "Follow-up of #12", "public": False},
    }

    created = client.api("POST", "tickets.json", json={"ticket": task})
    found = client.get("tickets.json", params={"external_id": task["external_id"]}).json()
    absent = client.get("tickets.json", params={"external_id": "nope"}).json()

    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert created.headers["Location"] == f"{box.url}/api/v2/tickets/{ticket['id']}.json"
    assert ticket["id"] == max(box.store.tickets)
    assert (ticket["type"], ticket["due_at"], ticket["group_id"]) == (
        "task",
        "2026-03-02T17:00:00Z",
        360000002,
    )
    assert ticket["requester_id"] == BOT_ID and ticket["external_id"] == task["external_id"]
    assert [c["id"] for c in ticket["custom_fields"]] == [
        360010001,
        360010002,
        360010003,
        360010010,
    ]
    assert created.json()["audit"]["events"]
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]] and found["count"] == 1
    assert absent == {"tickets": [], "next_page": None, "previous_page": None, "count": 0}
    assert client.stored(ticket["id"])["comments"][0]["public"] is False


def test_create_needs_a_comment(client: Client) -> None:
    answer = client.api("POST", "tickets.json", json={"ticket": {"subject": "empty"}})

    assert answer.status_code == 422
    assert answer.json()["details"]["base"][0]["error"] == "BlankValue"


def test_another_agent_can_authenticate_with_the_token(box: Sandbox) -> None:
    import requests

    from tests.sandbox.conftest import TOKEN

    session = requests.Session()
    session.auth = ("priya.raman@sandbox.test/token", TOKEN)
    tid = open_ids(box)[0]

    me = session.get(f"{box.url}/api/v2/users/me.json", timeout=10).json()["user"]
    session.put(
        f"{box.url}/api/v2/tickets/{tid}.json",
        json={"ticket": {"comment": {"body": "hi"}}},
        timeout=10,
    )

    assert me["email"] == "priya.raman@sandbox.test" and me["role"] == "agent"
    assert box.store.tickets[tid].comments[-1].author_id == me["id"]
    assert me["email"] != BOT_EMAIL


def test_an_idempotency_key_replays_the_first_creation(client: Client, box: Sandbox) -> None:
    task = {"type": "task", "subject": "Call back", "external_id": "esc-sync:t:1",
            "comment": {"body": "Follow-up", "public": False}}
    key = {"Idempotency-Key": "esc-sync:t:1"}
    before = len(box.store.tickets)

    first = client.api("POST", "tickets.json", json={"ticket": task}, headers=key)
    again = client.api("POST", "tickets.json", json={"ticket": task}, headers=key)
    other = client.api("POST", "tickets.json", json={"ticket": {**task, "subject": "x"}},
                       headers=key)

    assert first.status_code == again.status_code == 201
    assert first.headers["x-idempotency-lookup"] == "miss"
    assert again.headers["x-idempotency-lookup"] == "hit"
    assert again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert other.status_code == 400
    assert len(box.store.tickets) == before + 1
