"""Bulk writes: update_many / create_many jobs followed with job_statuses/show_many.

The job-status bodies are the recorded ones in tests/fixtures/zendesk/job_status_*.json
(node-zendesk, MIT); failures are built from them in the shapes helpdesk-apis.md §A5.4 gives.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from esc_sync.config import ConnectorProfile
from esc_sync.connectors.base import BulkWriter, JobItem, job_slot
from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.connectors.zendesk.normalize import task_body
from esc_sync.errors import HelpdeskError, TransientError
from esc_sync.model import TaskCreate, TicketUpdate
from tests.connectors.zendesk_payloads import BASE, TIER2_GROUP, load, sent_json

UPDATE_MANY = f"{BASE}/api/v2/tickets/update_many.json"
CREATE_MANY = f"{BASE}/api/v2/tickets/create_many.json"
SHOW_MANY = f"{BASE}/api/v2/job_statuses/show_many.json"
# The two organizations the recorded job updated; here they stand for two tickets.
FIRST, SECOND = 19856122753300, 19856122753684
JOB = "V3-693402ff502565d50b1b878825a45fe9"  # the recorded queued/completed job
WORKING_JOB = "V3-eb3753c8075be0c165b61b89a50ea0aa"
STAMP = "2023-10-08T17:20:00Z"


def job(name: str) -> dict[str, Any]:
    """The `job_status` object of a recorded fixture."""
    status: dict[str, Any] = load(f"job_status_{name}.json")["job_status"]
    return status


def statuses(*jobs: dict[str, Any]) -> dict[str, Any]:
    """A show_many answer."""
    return {"job_statuses": list(jobs)}


def ids_asked(call: Any) -> list[str]:
    """The job ids a show_many call asked for."""
    return parse_qs(urlsplit(call.request.url).query)["ids"][0].split(",")


def escalate(ticket_id: int, **changes: Any) -> TicketUpdate:
    """An escalation of one ticket with a known version."""
    update = TicketUpdate(
        ticket_id=ticket_id,
        version=STAMP,
        tags=("billing", "escalated"),
        group=TIER2_GROUP,
        priority="high",
        status="on_hold",
        custom_fields={"escalation_status": "tier2"},
        note=f"Escalated to tier2. esc-sync:sla-breach:2:{ticket_id}",
    )
    for key, value in changes.items():
        setattr(update, key, value)
    return update


def task(n: int) -> TaskCreate:
    """A follow-up task of ticket 2."""
    return TaskCreate(
        external_id=f"esc-sync:task:2:sla-breach:{n}",
        title=f"Step {n}",
        body=f"Follow-up of #2. esc-sync:task:2:sla-breach:{n}",
        due_at=datetime(2019, 6, 6, 9, 30, tzinfo=UTC),
        group=TIER2_GROUP,
        parent_ticket=2,
    )


def submitted(zd: ZendeskConnector, api: responses.RequestsMock, *ids: int) -> str:
    """Submit escalations of these tickets as the recorded job."""
    api.put(UPDATE_MANY, json={"job_status": job("queued")})
    return zd.submit_updates([escalate(i) for i in ids])


def completed_with(*results: dict[str, Any]) -> dict[str, Any]:
    """The recorded completed job with other results."""
    done = job("completed")
    done["results"] = list(results)
    done["total"] = done["progress"] = len(results)
    return done


# ----- submitting updates


def test_the_connector_is_a_bulk_writer_of_100_items(zd: ZendeskConnector) -> None:
    assert isinstance(zd, BulkWriter)
    assert zd.bulk_limit == 100


def test_one_update_many_carries_each_tickets_own_changes(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(UPDATE_MANY, json={"job_status": job("queued")})

    job_id = zd.submit_updates(
        [
            escalate(FIRST),
            TicketUpdate(ticket_id=SECOND, version=None, customer_message="We are on it."),
        ]
    )

    assert job_id == JOB
    (call,) = api.calls
    assert sent_json(call) == {
        "tickets": [
            {
                "id": FIRST,
                "additional_tags": ["billing", "escalated"],
                "group_id": TIER2_GROUP,
                "priority": "high",
                "status": "hold",
                "custom_fields": [{"id": 360000000201, "value": "tier2"}],
                "comment": {
                    "body": f"Escalated to tier2. esc-sync:sla-breach:2:{FIRST}",
                    "public": False,
                },
                "safe_update": True,
                "updated_stamp": STAMP,
            },
            {"id": SECOND, "comment": {"body": "We are on it.", "public": True}},
        ]
    }
    assert zd.calls == {"PUT /api/v2/tickets/update_many.json": 1}


def test_the_customer_message_alone_goes_public_with_safe_update(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(UPDATE_MANY, json={"job_status": job("queued")})
    zd.submit_updates([TicketUpdate(ticket_id=2, version=STAMP, customer_message="Hello")])
    assert sent_json(api.calls[0])["tickets"] == [
        {
            "id": 2,
            "comment": {"body": "Hello", "public": True},
            "safe_update": True,
            "updated_stamp": STAMP,
        }
    ]


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([escalate(2, customer_message="Hi")], "one comment"),
        ([], "nothing to submit"),
        ([escalate(i) for i in range(1, 102)], "101 items, at most 100"),
        ([escalate(2), escalate(2)], "twice"),
    ],
)
def test_a_batch_the_api_would_refuse_is_not_sent(
    zd: ZendeskConnector, api: responses.RequestsMock, updates: list[TicketUpdate], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        zd.submit_updates(updates)
    assert len(api.calls) == 0


def test_a_full_job_of_100_tickets_is_one_request(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(UPDATE_MANY, json={"job_status": job("queued")})
    zd.submit_updates([escalate(i) for i in range(1, 101)])
    assert [t["id"] for t in sent_json(api.calls[0])["tickets"]] == list(range(1, 101))


def test_too_many_values_from_the_server_is_an_error_not_retried(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(
        UPDATE_MANY,
        status=400,
        json={
            "error": "TooManyValues",
            "description": "Parameter  cannot specify more than 100 values",
            "max_count": 100,
        },
    )
    with pytest.raises(HelpdeskError, match="TooManyValues"):
        zd.submit_updates([escalate(2)])
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ReadTimeout("read timed out")},
        {"body": requests.ConnectionError("connection reset by peer")},
        {"status": 500, "body": "<html>Internal Server Error</html>"},
        {"status": 502, "body": "Bad Gateway"},
        {"status": 200, "body": '{"job_status": {"id": "V3-'},  # cut short: accepted, unread
        {"status": 200, "json": {"job_status": {"status": "queued"}}},  # no job id
    ],
)
def test_an_ambiguous_submission_is_never_repeated(
    zd: ZendeskConnector, api: responses.RequestsMock, failure: dict[str, Any]
) -> None:
    api.put(UPDATE_MANY, **failure)
    api.put(UPDATE_MANY, json={"job_status": job("queued")})  # a second job must not start
    with pytest.raises(TransientError):
        zd.submit_updates([escalate(2)])
    assert len(api.calls) == 1


def test_a_task_submission_is_not_repeated_either(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(CREATE_MANY, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError):
        zd.submit_tasks([task(1)])
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"error": "TooManyJobs", "description": "Too many jobs queued or running"}),
        (503, {"error": "ServiceUnavailable"}),
    ],
)
def test_a_refused_submission_is_repeated_after_retry_after(
    zd: ZendeskConnector,
    api: responses.RequestsMock,
    sleeps: list[float],
    status: int,
    body: dict[str, str],
) -> None:
    api.put(UPDATE_MANY, status=status, json=body, headers={"Retry-After": "7"})
    api.put(UPDATE_MANY, json={"job_status": job("queued")})
    assert zd.submit_updates([escalate(2)]) == JOB
    assert len(api.calls) == 2
    assert 7.0 in sleeps


# ----- submitting tasks


def test_create_many_sends_the_same_task_bodies_as_create_task(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(CREATE_MANY, json={"job_status": job("queued")})

    job_id = zd.submit_tasks([task(1), task(2)])

    assert job_id == JOB
    assert sent_json(api.calls[0]) == {
        "tickets": [task_body(task(1))["ticket"], task_body(task(2))["ticket"]]
    }
    assert sent_json(api.calls[0])["tickets"][0]["external_id"] == "esc-sync:task:2:sla-breach:1"
    assert zd.calls == {"POST /api/v2/tickets/create_many.json": 1}


def test_task_batches_are_checked_before_sending(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    with pytest.raises(ValueError, match="twice"):
        zd.submit_tasks([task(1), task(1)])
    with pytest.raises(ValueError, match="at most 100"):
        zd.submit_tasks([task(i) for i in range(101)])
    assert len(api.calls) == 0


def test_create_results_are_keyed_by_the_external_id_sent_at_their_index(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(CREATE_MANY, json={"job_status": job("queued")})
    job_id = zd.submit_tasks([task(1), task(2), task(3)])
    done = completed_with(
        {"index": 2, "id": 903, "action": "create", "status": "Created", "success": True},
        {"index": 0, "id": 901, "action": "create", "status": "Created", "success": True},
        {
            "index": 1,
            "action": "create",
            "status": "Failed",
            "success": False,
            "error": "RecordInvalid",
            "details": {"group_id": [{"description": "Group: 7 is not valid"}]},
        },
    )
    api.get(SHOW_MANY, json=statuses(done))

    (status,) = zd.poll_jobs([job_id]).values()

    assert status.state == "completed"
    assert status.items == {
        "esc-sync:task:2:sla-breach:1": JobItem("esc-sync:task:2:sla-breach:1", True, id=901),
        "esc-sync:task:2:sla-breach:2": JobItem(
            "esc-sync:task:2:sla-breach:2",
            False,
            error="RecordInvalid: group_id: Group: 7 is not valid",
        ),
        "esc-sync:task:2:sla-breach:3": JobItem("esc-sync:task:2:sla-breach:3", True, id=903),
    }


def test_after_a_restart_create_results_fall_back_to_their_external_id_or_slot(
    profile: ConnectorProfile, api: responses.RequestsMock
) -> None:
    fresh = ZendeskConnector(profile)  # never saw the submission
    done = completed_with(
        {"index": 0, "id": 901, "action": "create", "status": "Created", "success": True},
        {
            "index": 1,
            "id": 902,
            "action": "create",
            "status": "Created",
            "success": True,
            "external_id": "esc-sync:task:2:sla-breach:2",
        },
    )
    api.get(SHOW_MANY, json=statuses(done))

    items = fresh.poll_jobs([JOB])[JOB].items

    assert items == {
        job_slot(0): JobItem(job_slot(0), True, id=901),
        "esc-sync:task:2:sla-breach:2": JobItem("esc-sync:task:2:sla-breach:2", True, id=902),
    }


# ----- polling


def test_the_recorded_completed_job_maps_to_ticket_ids(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    api.get(SHOW_MANY, json=statuses(job("completed")))

    result = zd.poll_jobs([job_id])

    status = result[JOB]
    assert status.state == "completed"
    assert status.message == "Completed at 2023-10-08 17:22:38 +0000"
    assert status.items == {FIRST: JobItem(FIRST, True), SECOND: JobItem(SECOND, True)}
    assert ids_asked(api.calls[1]) == [JOB]
    assert zd.calls["GET /api/v2/job_statuses/show_many.json"] == 1


def test_queued_then_completed(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    api.get(SHOW_MANY, json=statuses(job("queued")))
    api.get(SHOW_MANY, json=statuses(job("completed")))

    first = zd.poll_jobs([job_id])[job_id]
    second = zd.poll_jobs([job_id])[job_id]

    assert (first.state, first.items, first.message) == ("running", {}, None)
    assert second.state == "completed" and set(second.items) == {FIRST, SECOND}


def test_a_working_job_is_running_with_its_message(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(SHOW_MANY, json=statuses(job("working")))
    status = zd.poll_jobs([WORKING_JOB])[WORKING_JOB]
    assert (status.state, status.message) == ("running", "Deleting Organization #17")


def test_a_completed_job_may_hold_a_failed_item(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    done = job("completed")
    done["results"][1] = {
        "action": "update",
        "id": SECOND,
        "status": "Failed",
        "success": False,
        "error": "RecordInvalid",
        "details": {"status": [{"description": "Status closed prevents ticket update"}]},
    }
    api.get(SHOW_MANY, json=statuses(done))

    items = zd.poll_jobs([job_id])[job_id].items

    assert items[FIRST] == JobItem(FIRST, True)
    assert items[SECOND] == JobItem(
        SECOND,
        False,
        error="RecordInvalid: status: Status closed prevents ticket update",
        conflict=False,
    )


@pytest.mark.parametrize(
    "failure",
    [
        {
            "success": False,
            "status": "Failed",
            "error": "UpdateConflict",
            "details": "Safe Update prevented the update due to outdated ticket data. "
            "Please fetch the latest ticket data and try again.",
        },
        # no `success` key, as failed bulk items are also reported; the cause only in details
        {"status": "Failed", "error": "TicketUpdateFailed", "details": "update CONFLICT"},
        {"error": "DatabaseConflict", "details": "Database collision"},
    ],
)
def test_an_update_conflict_item_is_recognised(
    zd: ZendeskConnector, api: responses.RequestsMock, failure: dict[str, Any]
) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    done = job("completed")
    done["results"][0] = {"action": "update", "id": FIRST, **failure}
    api.get(SHOW_MANY, json=statuses(done))

    item = zd.poll_jobs([job_id])[job_id].items[FIRST]

    assert (item.ok, item.conflict) == (False, True)
    assert item.error is not None and failure["error"] in item.error


def test_a_failed_update_without_an_id_is_mapped_through_its_index(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    done = completed_with(
        {"action": "update", "id": FIRST, "status": "Updated", "success": True},
        {"index": 1, "error": "PermissionDenied", "details": "You do not have access"},
    )
    api.get(SHOW_MANY, json=statuses(done))

    items = zd.poll_jobs([job_id])[job_id].items

    assert items[SECOND] == JobItem(SECOND, False, error="PermissionDenied: You do not have access")


@pytest.mark.parametrize("state", ["failed", "killed"])
def test_a_failed_or_killed_job_is_failed(
    zd: ZendeskConnector, api: responses.RequestsMock, state: str
) -> None:
    job_id = submitted(zd, api, FIRST, SECOND)
    broken = job("working")
    broken.update(id=JOB, status=state, message=None)
    api.get(SHOW_MANY, json=statuses(broken))

    status = zd.poll_jobs([job_id])[job_id]

    assert (status.state, status.items, status.message) == ("failed", {}, state)


def test_a_job_left_out_of_the_answer_has_vanished(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(SHOW_MANY, json=statuses(job("working")))

    result = zd.poll_jobs([JOB, WORKING_JOB, JOB])

    assert list(result) == [JOB, WORKING_JOB]
    assert result[JOB].state == "vanished"
    assert result[WORKING_JOB].state == "running"
    assert ids_asked(api.calls[0]) == [JOB, WORKING_JOB]


def test_polls_ask_for_100_jobs_a_call(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.get(SHOW_MANY, json=statuses())
    many = [f"V3-{i:032x}" for i in range(150)]

    result = zd.poll_jobs(many)

    assert [len(ids_asked(c)) for c in api.calls] == [100, 50]
    assert {s.state for s in result.values()} == {"vanished"}
    assert zd.calls == {"GET /api/v2/job_statuses/show_many.json": 2}


def test_if_show_many_answers_404_each_job_is_asked_alone(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(SHOW_MANY, status=404, json=load("error_404_record_not_found.json"))
    api.get(f"{BASE}/api/v2/job_statuses/{WORKING_JOB}.json", json={"job_status": job("working")})
    api.get(
        f"{BASE}/api/v2/job_statuses/{JOB}.json",
        status=404,
        json=load("error_404_record_not_found.json"),
    )

    result = zd.poll_jobs([JOB, WORKING_JOB])

    assert result[JOB].state == "vanished"
    assert result[WORKING_JOB].state == "running"
    assert zd.calls == {
        "GET /api/v2/job_statuses/show_many.json": 1,
        "GET /api/v2/job_statuses/{id}.json": 2,
    }


def test_a_poll_that_fails_transiently_is_retried(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(SHOW_MANY, status=500, body="oops")
    api.get(SHOW_MANY, json=statuses(job("queued")))
    assert zd.poll_jobs([JOB])[JOB].state == "running"
    assert len(api.calls) == 2


def test_a_show_many_answer_without_the_list_is_not_taken_as_all_vanished(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.get(SHOW_MANY, json={"unexpected": True})
    with pytest.raises(TransientError, match="malformed"):
        zd.poll_jobs([JOB])


def test_submission_memory_is_bounded(
    zd: ZendeskConnector, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("esc_sync.connectors.zendesk.connector.SUBMISSIONS_MAX", 2)
    for n in range(3):
        queued = copy.deepcopy(job("queued"))
        queued["id"] = f"V3-{n}"
        api.put(UPDATE_MANY, json={"job_status": queued})
        zd.submit_updates([escalate(2)])
    assert list(zd._submissions) == ["V3-1", "V3-2"]
