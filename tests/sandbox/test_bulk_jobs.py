"""Bulk jobs over real HTTP: update_many, create_many, job statuses, limits and job faults."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.errors import TransientError
from esc_sync.model import TaskCreate, TicketUpdate
from esc_sync.sandbox import BOT_EMAIL, Sandbox
from esc_sync.sandbox.writes import parse_time
from tests.frozen import frozen_sandbox
from tests.sandbox.conftest import TOKEN, Client, open_ids

RECORDED = Path(__file__).parent.parent / "fixtures" / "zendesk"
JOB_ID = re.compile(r"^V3-[0-9a-f]{32}$")
STALE = "2001-01-01T00:00:00Z"


def arm(client: Client, **fault: object) -> None:
    """Arm one fault."""
    answer = client.admin("POST", "faults", json=fault)
    assert answer.status_code == 201, answer.text


def update_many(client: Client, *tickets: dict[str, Any]) -> requests.Response:
    """PUT tickets/update_many.json with a tickets array."""
    return client.api("PUT", "tickets/update_many.json", json={"tickets": list(tickets)})


def create_many(client: Client, *tickets: dict[str, Any]) -> requests.Response:
    """POST tickets/create_many.json."""
    return client.api("POST", "tickets/create_many.json", json={"tickets": list(tickets)})


def submit(client: Client, *tickets: dict[str, Any]) -> str:
    """An accepted update_many job's id."""
    answer = update_many(client, *tickets)
    assert answer.status_code == 200, answer.text
    job_id: str = answer.json()["job_status"]["id"]
    return job_id


def status(client: Client, job_id: str) -> dict[str, Any]:
    """GET job_statuses/{id}.json (asserting 200)."""
    answer = client.get(f"job_statuses/{job_id}.json")
    assert answer.status_code == 200, answer.text
    got: dict[str, Any] = answer.json()["job_status"]
    return got


def stamp(client: Client, ticket_id: int) -> str:
    """The ticket's current updated_at, as the worker would have read it."""
    got: str = client.get(f"tickets/{ticket_id}.json").json()["ticket"]["updated_at"]
    return got


def note_bodies(client: Client, ticket_id: int) -> list[tuple[str, bool]]:
    """(body, public) of every comment of a ticket."""
    return [(c["body"], c["public"]) for c in client.stored(ticket_id)["comments"]]


# ----- update_many


def test_update_many_answers_a_queued_job_shaped_like_the_recorded_one(client: Client) -> None:
    tid = open_ids(client.box)[0]
    answer = update_many(client, {"id": tid, "priority": "urgent"})

    job = answer.json()["job_status"]
    recorded = json.loads((RECORDED / "job_status_queued.json").read_text())["job_status"]
    assert answer.status_code == 200
    assert list(job) == list(recorded)
    assert JOB_ID.match(job["id"])
    assert job["url"] == f"{client.box.url}/api/v2/job_statuses/{job['id']}.json"
    assert (job["total"], job["progress"], job["status"], job["results"]) == (
        1,
        None,
        "queued",
        None,
    )


def test_each_ticket_gets_its_own_changes_like_a_single_put(client: Client) -> None:
    first, second = open_ids(client.box)[:2]
    before = list(client.box.store.tickets[first].tags)
    job_id = submit(
        client,
        {
            "id": first,
            "additional_tags": ["esc-escalated", "VIP"],
            "group_id": 360000002,
            "priority": "urgent",
            "custom_fields": [{"id": 360010001, "value": "t2"}],
            "comment": {"body": "Briefing esc-sync:r:t2:ep1", "public": False},
            "safe_update": True,
            "updated_stamp": stamp(client, first),
        },
        {"id": second, "comment": {"body": "We are on it.", "public": True}},
    )

    job = status(client, job_id)

    assert job["status"] == "completed" and job["progress"] == 2
    assert job["message"].startswith("Completed at ")
    assert job["results"] == [
        {"action": "update", "id": first, "status": "Updated", "success": True},
        {"action": "update", "id": second, "status": "Updated", "success": True},
    ]
    stored = client.stored(first)
    assert stored["tags"] == [*before, "esc-escalated", "vip"]  # added, none replaced
    assert (stored["group_id"], stored["priority"]) == (360000002, "urgent")
    assert {"id": 360010001, "value": "t2"} in stored["custom_fields"]
    assert note_bodies(client, first)[-1] == ("Briefing esc-sync:r:t2:ep1", False)
    assert note_bodies(client, second)[-1] == ("We are on it.", True)


def test_tags_added_meanwhile_are_kept_and_remove_tags_removes(client: Client) -> None:
    tid = open_ids(client.box)[0]
    client.admin("PUT", "jobs", json={"delay": 0.6})
    job_id = submit(client, {"id": tid, "additional_tags": ["a1"], "remove_tags": ["gone"]})
    # a person edits the tags while the job waits in the queue
    client.admin("PUT", f"tickets/{tid}", json={"ticket": {"tags": ["human", "gone"]}})
    time.sleep(0.7)

    assert status(client, job_id)["status"] == "completed"
    assert client.stored(tid)["tags"] == ["human", "a1"]


def test_a_job_runs_without_being_polled(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    submit(client, {"id": tid, "priority": "urgent", "comment": {"body": "x", "public": False}})

    deadline = time.monotonic() + 5
    while box.store.tickets[tid].priority != "urgent" and time.monotonic() < deadline:
        time.sleep(0.02)  # no request: the background tick runs it

    assert box.store.tickets[tid].priority == "urgent"


def test_failed_items_are_reported_and_the_job_still_completes(
    client: Client, box: Sandbox
) -> None:
    good, bad, stale = open_ids(box)[:3]
    closed = next(t.id for t in box.store.tickets.values() if t.status == "closed")
    job_id = submit(
        client,
        {"id": good, "priority": "high"},
        {"id": bad, "priority": "whenever"},
        {"id": 987654, "priority": "high"},
        {"id": closed, "priority": "high"},
        {"id": stale, "priority": "high", "safe_update": True, "updated_stamp": STALE},
    )

    results = status(client, job_id)["results"]

    assert [r["success"] for r in results] == [True, False, False, False, False]
    failed = {r["id"]: (r["error"], r["details"]) for r in results if not r["success"]}
    assert failed[bad] == ("RecordInvalid", "priority: Priority: 'whenever' is not valid")
    assert failed[987654] == ("RecordNotFound", "Not found")
    assert failed[closed] == ("RecordInvalid", "status: Status closed prevents ticket update")
    assert failed[stale][0] == "UpdateConflict"
    assert "outdated ticket data" in failed[stale][1]
    assert all(r["status"] == "Failed" and r["action"] == "update" for r in results[1:])
    assert box.store.tickets[good].priority == "high"
    assert box.store.tickets[stale].priority != "high"  # a refused item changes nothing


def test_the_ids_form_applies_one_change_to_each(client: Client, box: Sandbox) -> None:
    ids = open_ids(box)[:3]
    answer = client.api(
        "PUT",
        "tickets/update_many.json",
        params={"ids": ",".join(map(str, ids))},
        json={"ticket": {"priority": "low"}},
    )
    job = status(client, answer.json()["job_status"]["id"])

    assert job["total"] == 3 and job["status"] == "completed"
    assert [box.store.tickets[i].priority for i in ids] == ["low", "low", "low"]


@pytest.mark.parametrize("form", ["update", "create", "ids"])
def test_more_than_100_items_is_400_too_many_values(client: Client, form: str) -> None:
    if form == "update":
        answer = update_many(client, *({"id": i} for i in range(1, 102)))
    elif form == "create":
        answer = create_many(client, *({"comment": {"body": "x"}} for _ in range(101)))
    else:
        answer = client.api(
            "PUT",
            "tickets/update_many.json",
            params={"ids": ",".join(str(i) for i in range(1, 102))},
            json={"ticket": {"priority": "low"}},
        )

    assert answer.status_code == 400
    assert answer.json()["error"] == "TooManyValues"
    assert client.admin("GET", "jobs").json()["jobs"] == []


def test_malformed_bodies_are_refused_whole(client: Client) -> None:
    assert update_many(client).status_code == 400
    assert update_many(client, {"priority": "low"}).status_code == 400  # no id
    assert client.api("PUT", "tickets/update_many.json", json={"ticket": {}}).status_code == 400
    assert client.admin("GET", "jobs").json()["jobs"] == []


# ----- create_many


def test_create_many_creates_tasks_like_post_tickets(client: Client, box: Sandbox) -> None:
    answer = create_many(
        client,
        {
            "subject": "Call back",
            "comment": {"body": "Follow-up. esc-sync:task:7:r:1", "public": False},
            "type": "task",
            "external_id": "esc-sync:task:7:r:1",
            "tags": ["esc-sync-task"],
            "due_at": "2026-03-02T15:00:00Z",
            "group_id": 360000002,
        },
        {"subject": "No description"},
        {"subject": "Second", "comment": {"body": "Two"}, "external_id": "esc-sync:task:7:r:2"},
    )
    results = status(client, answer.json()["job_status"]["id"])["results"]

    assert [(r["index"], r["success"], r["action"]) for r in results] == [
        (0, True, "create"),
        (1, False, "create"),
        (2, True, "create"),
    ]
    assert results[1]["error"] == "RecordInvalid"
    created = box.store.tickets[results[0]["id"]]
    assert (created.type, created.external_id, created.group_id) == (
        "task",
        "esc-sync:task:7:r:1",
        360000002,
    )
    assert created.due_at == parse_time("2026-03-02T15:00:00Z")
    found = client.get("tickets.json", params={"external_id": "esc-sync:task:7:r:2"}).json()
    assert [t["id"] for t in found["tickets"]] == [results[2]["id"]]


# ----- job statuses


def test_show_many_returns_the_known_jobs_and_leaves_out_the_rest(client: Client) -> None:
    tid = open_ids(client.box)[0]
    first = submit(client, {"id": tid, "priority": "low"})
    second = submit(client, {"id": tid, "priority": "high"})

    answer = client.get("job_statuses/show_many.json", params={"ids": f"{second},V3-nope,{first}"})

    assert answer.status_code == 200
    assert [j["id"] for j in answer.json()["job_statuses"]] == [second, first]
    assert {j["status"] for j in answer.json()["job_statuses"]} == {"completed"}
    too_many = ",".join(f"V3-{i}" for i in range(101))
    assert client.get("job_statuses/show_many.json", params={"ids": too_many}).status_code == 400
    assert client.get("job_statuses/V3-nope.json").json() == {
        "error": "RecordNotFound",
        "description": "Not found",
    }


def test_the_account_listing_shows_recent_jobs_newest_first(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    first = submit(client, {"id": tid, "priority": "low"})
    assert status(client, first)["status"] == "completed"
    assert client.admin("PUT", "jobs", json={"delay": 30}).status_code == 200
    second = submit(client, {"id": tid, "priority": "high"})

    answer = client.get("job_statuses.json")

    assert answer.status_code == 200
    listed = answer.json()["job_statuses"]
    assert [j["id"] for j in listed] == [second, first]
    assert [j["status"] for j in listed] == ["queued", "completed"]
    assert answer.json()["meta"]["has_more"] is False


def test_a_job_waits_its_delay_queued_then_completes(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    assert client.admin("PUT", "jobs", json={"delay": 0.6}).status_code == 200
    job_id = submit(client, {"id": tid, "priority": "urgent"})

    early = status(client, job_id)
    assert (early["status"], early["progress"], early["results"]) == ("queued", None, None)
    assert box.store.tickets[tid].priority != "urgent"
    time.sleep(0.7)
    late = status(client, job_id)

    assert late["status"] == "completed"
    assert box.store.tickets[tid].priority == "urgent"


def test_zendesk_limits_are_the_defaults(client: Client) -> None:
    settings = client.admin("GET", "jobs").json()["settings"]
    assert settings == {"delay": 0.0, "limit": 30, "keep": 100}


def test_only_the_last_statuses_are_kept(client: Client, box: Sandbox) -> None:
    box.jobs.keep = 5  # 100 on Zendesk; fewer keeps the test quick
    tid = open_ids(box)[0]
    jobs = [submit(client, {"id": tid, "priority": "low"}) for _ in range(6)]

    assert client.get(f"job_statuses/{jobs[0]}.json").status_code == 404
    assert status(client, jobs[1])["status"] == "completed"
    assert status(client, jobs[-1])["status"] == "completed"


def test_a_status_pushed_out_while_queued_still_runs(client: Client, box: Sandbox) -> None:
    box.jobs.keep = 1
    a, b = open_ids(box)[:2]
    client.admin("PUT", "jobs", json={"delay": 60})
    first = submit(client, {"id": a, "priority": "urgent"})
    submit(client, {"id": b, "priority": "urgent"})
    client.admin("PUT", "jobs", json={"delay": 0})
    client.admin("POST", "jobs/advance")

    assert client.get(f"job_statuses/{first}.json").status_code == 404
    assert box.store.tickets[a].priority == "urgent"


def test_too_many_active_jobs_is_429_too_many_jobs(client: Client) -> None:
    tid = open_ids(client.box)[0]
    client.admin("PUT", "jobs", json={"delay": 60, "limit": 3})  # 30 on Zendesk
    for _ in range(3):
        submit(client, {"id": tid, "priority": "low"})

    refused = update_many(client, {"id": tid, "priority": "low"})
    refused_create = create_many(client, {"comment": {"body": "x"}})

    assert refused.status_code == 429 and refused_create.status_code == 429
    assert refused.json()["error"] == "TooManyJobs"
    assert int(refused.headers["Retry-After"]) >= 1
    client.admin("PUT", "jobs", json={"delay": 0})
    client.admin("POST", "jobs/advance")
    assert update_many(client, {"id": tid, "priority": "low"}).status_code == 200


def test_the_request_log_records_bulk_requests(client: Client) -> None:
    tid = open_ids(client.box)[0]
    job_id = submit(client, {"id": tid, "priority": "low"})
    client.get("job_statuses/show_many.json", params={"ids": job_id})

    log = client.admin("GET", "requests").json()

    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("PUT", "/api/v2/tickets/update_many.json", 200),
        ("GET", "/api/v2/job_statuses/show_many.json", 200),
    ]
    assert log[1]["params"] == {"ids": job_id}


def test_admin_can_make_a_job_vanish(client: Client) -> None:
    tid = open_ids(client.box)[0]
    job_id = submit(client, {"id": tid, "priority": "low"})

    assert client.admin("DELETE", f"jobs/{job_id}").status_code == 204
    assert client.get(f"job_statuses/{job_id}.json").status_code == 404
    assert client.admin("DELETE", f"jobs/{job_id}").status_code == 404


# ----- job faults


def test_job_items_fault_fails_items_by_ticket_id_or_index(client: Client, box: Sandbox) -> None:
    a, b, c, d = open_ids(box)[:4]
    arm(client, kind="job_items", ids=[b], indexes=[3])
    arm(client, kind="job_items", ids=[a], error="UpdateConflict")
    tickets = [{"id": t, "priority": "urgent"} for t in (a, b, c, d)]

    first = status(client, submit(client, *tickets))["results"]
    second = status(client, submit(client, *tickets))["results"]

    assert [r["success"] for r in first] == [True, False, True, False]
    assert first[1]["error"] == "RecordInvalid" and first[1]["id"] == b
    assert [r["success"] for r in second] == [False, True, True, True]
    assert second[0]["error"] == "UpdateConflict"
    assert "outdated ticket data" in second[0]["details"]


def test_job_faults_wait_for_a_bulk_submission(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="job_failed")
    client.get(f"tickets/{tid}.json")
    client.put_ticket(tid, {"priority": "low"})

    assert len(client.admin("GET", "faults").json()["faults"]) == 1
    job_id = submit(client, {"id": tid, "priority": "high"})
    assert status(client, job_id)["status"] == "failed"
    assert client.admin("GET", "faults").json()["faults"] == []


def test_a_stuck_job_stays_working_forever(client: Client, box: Sandbox) -> None:
    a, b, c = open_ids(box)[:3]
    arm(client, kind="job_stuck", applied=1)
    job_id = submit(client, *({"id": t, "priority": "urgent"} for t in (a, b, c)))

    polls = [status(client, job_id) for _ in range(3)]
    time.sleep(0.15)
    polls.append(status(client, job_id))

    assert {(p["status"], p["progress"], p["results"]) for p in polls} == {("working", 1, None)}
    assert [box.store.tickets[t].priority for t in (a, b, c)].count("urgent") == 1
    assert box.store.tickets[a].priority == "urgent"


def test_a_vanishing_job_is_applied_and_then_unknown(client: Client, box: Sandbox) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="job_vanish")
    job_id = submit(client, {"id": tid, "priority": "urgent"})

    assert client.get(f"job_statuses/{job_id}.json").status_code == 404
    shown = client.get("job_statuses/show_many.json", params={"ids": job_id}).json()
    assert shown == {"job_statuses": []}
    assert box.store.tickets[tid].priority == "urgent"


@pytest.mark.parametrize("kind", ["job_failed", "job_killed"])
def test_a_failed_or_killed_job(client: Client, box: Sandbox, kind: str) -> None:
    tid = open_ids(box)[0]
    before = box.store.tickets[tid].priority
    arm(client, kind=kind)
    job = status(client, submit(client, {"id": tid, "priority": "urgent"}))

    assert (job["status"], job["results"]) == (kind.removeprefix("job_"), None)
    assert box.store.tickets[tid].priority == before


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "timeout", "seconds": 0, "apply": True},
        {"kind": "500", "apply": True},
    ],
)
def test_a_submission_whose_answer_is_lost_still_runs(
    client: Client, box: Sandbox, fault: dict[str, Any]
) -> None:
    tid = open_ids(box)[0]
    arm(client, path="update_many", **fault)

    try:
        lost = update_many(client, {"id": tid, "priority": "urgent"})
        assert lost.status_code == 500
    except requests.ConnectionError:
        pass  # the timeout fault closes the connection unanswered

    (job,) = client.admin("POST", "jobs/advance").json()["jobs"]
    assert (job["status"], job["visible"], job["ticket_ids"]) == ("completed", True, [tid])
    assert box.store.tickets[tid].priority == "urgent"


def test_bad_job_fault_bodies_are_refused(client: Client) -> None:
    for body in (
        {"kind": "job_items", "ids": "12"},
        {"kind": "job_items", "indexes": [-1]},
        {"kind": "job_stuck", "applied": -2},
        {"kind": "job_items", "error": 5},
    ):
        assert client.admin("POST", "faults", json=body).status_code == 422, body


def test_the_freshdesk_dialect_has_no_job_hooks() -> None:
    with frozen_sandbox(token=TOKEN, dialect="freshdesk") as box:
        assert Client(box).admin("GET", "jobs").status_code == 404


# ----- the connector against the sandbox


@pytest.fixture()
def zd(box: Sandbox) -> Iterator[ZendeskConnector]:
    """The Zendesk connector speaking to the sandbox."""
    profile = ConnectorProfile(
        type="zendesk",
        base_url=box.url,
        email=BOT_EMAIL,
        token_env="UNUSED",
        token=SecretStr(TOKEN),
        start="30d",
        groups={"t1": 360000001, "t2": 360000002, "t3": 360000003, "t4": 360000004},
        fields={"escalation_status": 360010001},
        timeout=(2.0, 2.0),
        max_retries=2,
        name="sandbox",
    )
    yield ZendeskConnector(profile, sleep=lambda _s: None)


def test_the_connector_writes_through_jobs_end_to_end(
    zd: ZendeskConnector, client: Client, box: Sandbox
) -> None:
    a, b = open_ids(box)[:2]
    client.admin("PUT", "jobs", json={"delay": 0.6})
    updates = [
        TicketUpdate(
            ticket_id=a,
            version=stamp(client, a),
            tags=("esc-escalated",),
            group=360000002,
            custom_fields={"escalation_status": "t2"},
            note="Briefing esc-sync:r:t2:ep1",
        ),
        TicketUpdate(ticket_id=b, version=STALE, priority="urgent"),
    ]
    task = TaskCreate(
        external_id="esc-sync:task:1:r:1",
        title="Call back",
        body="Follow-up esc-sync:task:1:r:1",
        due_at=None,
        group=360000002,
        parent_ticket=a,
    )

    jobs = [zd.submit_updates(updates), zd.submit_tasks([task])]
    first = zd.poll_jobs(jobs)
    time.sleep(0.7)
    done = zd.poll_jobs([*jobs, "V3-unknown"])

    assert {s.state for s in first.values()} == {"running"}
    assert [done[j].state for j in jobs] == ["completed", "completed"]
    assert done["V3-unknown"].state == "vanished"
    updated = done[jobs[0]].items
    assert updated[a].ok and not updated[a].conflict
    assert (updated[b].ok, updated[b].conflict) == (False, True)
    created = done[jobs[1]].items["esc-sync:task:1:r:1"]
    assert created.ok and created.id is not None
    assert zd.find_task("esc-sync:task:1:r:1") == created.id
    assert "esc-escalated" in box.store.tickets[a].tags
    assert box.store.tickets[a].custom[360010001] == "t2"
    assert zd.calls["PUT /api/v2/tickets/update_many.json"] == 1
    assert zd.calls["POST /api/v2/tickets/create_many.json"] == 1
    assert zd.calls["GET /api/v2/job_statuses/show_many.json"] == 2


def test_the_connector_does_not_resubmit_a_lost_answer(
    zd: ZendeskConnector, client: Client, box: Sandbox
) -> None:
    tid = open_ids(box)[0]
    arm(client, kind="timeout", path="update_many", seconds=0, apply=True)

    with pytest.raises(TransientError):
        zd.submit_updates([TicketUpdate(ticket_id=tid, version=None, priority="urgent")])

    submissions = [r for r in client.admin("GET", "requests").json() if "update_many" in r["path"]]
    assert len(submissions) == 1
    client.admin("POST", "jobs/advance")
    assert box.store.tickets[tid].priority == "urgent"  # the job ran: settle by reading


def test_the_connector_sees_a_stuck_job_running_and_a_vanished_one(
    zd: ZendeskConnector, client: Client, box: Sandbox
) -> None:
    a, b = open_ids(box)[:2]
    arm(client, kind="job_stuck")
    arm(client, kind="job_vanish")
    stuck = zd.submit_updates([TicketUpdate(ticket_id=a, version=None, priority="urgent")])
    gone = zd.submit_updates([TicketUpdate(ticket_id=b, version=None, priority="urgent")])

    result = zd.poll_jobs([stuck, gone])

    assert (result[stuck].state, result[gone].state) == ("running", "vanished")
