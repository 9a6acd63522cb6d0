"""Write-back: one safe PUT per ticket, the customer reply, follow-up tasks, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses

from esc_sync.connectors.zendesk import ZendeskConnector
from esc_sync.errors import ConflictError, HelpdeskError, SkippableError, TransientError
from esc_sync.model import TaskCreate, TicketUpdate
from tests.connectors.zendesk_payloads import (
    BASE,
    TIER2_GROUP,
    load,
    read_text,
    sent_json,
    template_ticket,
)

TICKET = f"{BASE}/api/v2/tickets/2.json"
TICKETS = f"{BASE}/api/v2/tickets.json"
READ_STAMP = "2019-06-05T01:13:24Z"


def put_response(updated_at: str) -> dict[str, object]:
    """A PUT answer: the ticket as saved and its audit."""
    return {
        "ticket": template_ticket(updated_at=updated_at),
        "audit": {
            "id": 900,
            "ticket_id": 2,
            "created_at": updated_at,
            "author_id": 377922500777,
            "events": [],
        },
    }


def escalation(**changes: object) -> TicketUpdate:
    """A full escalation update of the recorded ticket."""
    update = TicketUpdate(
        ticket_id=2,
        version=READ_STAMP,
        tags=("billing", "escalated"),
        group=TIER2_GROUP,
        priority="high",
        status="on_hold",
        custom_fields={
            "escalation_status": "tier2",
            "respond_by": datetime(2019, 6, 5, 3, 0, tzinfo=UTC),
        },
        note="Escalated to tier2. esc-sync:sla-breach:2:1",
    )
    for key, value in changes.items():
        setattr(update, key, value)
    return update


def test_one_put_carries_every_change_with_safe_update(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, json=put_response("2019-06-05T02:00:00Z"))

    stamp = zd.apply_update(escalation())

    assert stamp == "2019-06-05T02:00:00Z"
    (call,) = api.calls
    assert sent_json(call) == {
        "ticket": {
            "tags": ["billing", "escalated"],
            "group_id": 360004077999,
            "priority": "high",
            "status": "hold",
            "custom_fields": [
                {"id": 360000000201, "value": "tier2"},
                {"id": 360000000202, "value": "2019-06-05T03:00:00Z"},
            ],
            "comment": {"body": "Escalated to tier2. esc-sync:sla-breach:2:1", "public": False},
            "safe_update": True,
            "updated_stamp": READ_STAMP,
        }
    }
    assert call.request.req_kwargs["timeout"] == (3.0, 30.0)
    assert zd.calls == {"PUT /api/v2/tickets/{id}.json": 1}


def test_the_customer_message_goes_in_a_second_put(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, json=put_response("2019-06-05T02:00:00Z"))
    api.put(TICKET, json=put_response("2019-06-05T02:00:01Z"))

    stamp = zd.apply_update(escalation(customer_message="We are on it."))

    assert stamp == "2019-06-05T02:00:01Z"
    main, reply = (sent_json(c) for c in api.calls)
    assert main["ticket"]["comment"]["public"] is False
    assert reply == {
        "ticket": {
            "comment": {"body": "We are on it.", "public": True},
            "safe_update": True,
            "updated_stamp": "2019-06-05T02:00:00Z",  # the stamp the first PUT returned
        }
    }


def test_a_message_alone_is_one_put(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.put(TICKET, json=put_response("2019-06-05T02:00:00Z"))
    zd.apply_update(TicketUpdate(ticket_id=2, version=READ_STAMP, customer_message="Hello"))
    (call,) = api.calls
    assert sent_json(call)["ticket"]["updated_stamp"] == READ_STAMP


def test_without_a_version_no_safe_update_is_sent(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, json=put_response("2019-06-05T02:00:00Z"))
    zd.apply_update(TicketUpdate(ticket_id=2, version=None, tags=("vip",)))
    assert sent_json(api.calls[0]) == {"ticket": {"tags": ["vip"]}}


def test_an_unmapped_custom_field_is_named_and_nothing_is_sent(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    with pytest.raises(HelpdeskError, match="'sla_level'"):
        zd.apply_update(escalation(custom_fields={"sla_level": "gold"}))
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (
            read_text("synthetic/zendesk_error_409_database_conflict.json"),
            "application/json",
            "Database collision",
        ),
        (
            read_text("error_409_conflict_text_plain.txt"),
            "text/plain",
            "Requester creation collision",
        ),
    ],
)
def test_409_is_a_conflict_and_never_retried(
    zd: ZendeskConnector,
    api: responses.RequestsMock,
    sleeps: list[float],
    body: str,
    content_type: str,
    text: str,
) -> None:
    api.put(TICKET, status=409, body=body, content_type=content_type)
    with pytest.raises(ConflictError, match=text) as err:
        zd.apply_update(escalation(customer_message="We are on it."))
    assert err.value.ticket_id == 2
    assert len(api.calls) == 1 and sleeps == []  # no retry and no second PUT


def test_422_on_a_closed_ticket_is_skippable_with_the_vendor_details(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, status=422, json=load("synthetic/zendesk_error_422_closed_ticket.json"))
    with pytest.raises(SkippableError) as err:
        zd.apply_update(escalation())
    assert err.value.code == "RecordInvalid"
    assert str(err.value) == (
        "PUT /api/v2/tickets/{id}.json (ticket 2): HTTP 422 RecordInvalid: "
        "Record validation errors; status: Status closed prevents ticket update"
    )


def test_a_note_without_safe_update_is_not_repeated_after_a_timeout(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError):
        zd.apply_update(TicketUpdate(ticket_id=2, version=None, note="esc-sync:x"))
    assert len(api.calls) == 1


def test_a_safe_put_is_repeated_after_a_timeout(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.put(TICKET, body=requests.ReadTimeout("read timed out"))
    api.put(TICKET, json=put_response("2019-06-05T02:00:00Z"))
    assert zd.apply_update(escalation()) == "2019-06-05T02:00:00Z"


def task() -> TaskCreate:
    """A follow-up task of the recorded ticket."""
    return TaskCreate(
        external_id="esc-sync:task:2:sla-breach:1",
        title="Call the customer back",
        body="Follow-up of #2. esc-sync:task:2:sla-breach:1",
        due_at=datetime(2019, 6, 6, 9, 30, tzinfo=UTC),
        group=TIER2_GROUP,
        parent_ticket=2,
    )


def test_find_task_by_external_id(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.get(
        TICKETS,
        json={
            "tickets": [template_ticket(id=4016)],
            "next_page": None,
            "previous_page": None,
            "count": 1,
        },
    )
    api.get(TICKETS, json={"tickets": [], "next_page": None, "previous_page": None, "count": 0})

    assert zd.find_task("esc-sync:task:2:sla-breach:1") == 4016
    assert zd.find_task("esc-sync:task:2:other:1") is None
    assert api.calls[0].request.url == f"{TICKETS}?external_id=esc-sync%3Atask%3A2%3Asla-breach%3A1"


def test_create_task_posts_a_task_ticket(zd: ZendeskConnector, api: responses.RequestsMock) -> None:
    api.post(
        TICKETS,
        status=201,
        json={"ticket": template_ticket(id=4016, type="task"), "audit": {"id": 901, "events": []}},
        headers={"Location": f"{BASE}/api/v2/tickets/4016.json"},
    )

    assert zd.create_task(task()) == 4016
    assert sent_json(api.calls[0]) == {
        "ticket": {
            "subject": "Call the customer back",
            "comment": {"body": "Follow-up of #2. esc-sync:task:2:sla-breach:1", "public": False},
            "type": "task",
            "due_at": "2019-06-06T09:30:00Z",
            "group_id": 360004077999,
            "external_id": "esc-sync:task:2:sla-breach:1",
            "tags": ["esc-sync-task"],
        }
    }
    assert zd.calls == {"POST /api/v2/tickets.json": 1}


def test_create_task_sends_its_external_id_as_the_idempotency_key(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(TICKETS, status=201, json={"ticket": template_ticket(id=4016, type="task")},
             headers={"x-idempotency-lookup": "miss"})
    zd.create_task(task())
    assert api.calls[0].request.headers["Idempotency-Key"] == "esc-sync:task:2:sla-breach:1"


def test_create_task_after_a_lost_answer_is_replayed_with_its_key(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(TICKETS, body=requests.ReadTimeout("read timed out"))
    api.post(TICKETS, status=201, json={"ticket": template_ticket(id=4016, type="task")},
             headers={"x-idempotency-lookup": "hit"})
    assert zd.create_task(task()) == 4016
    keys = {c.request.headers["Idempotency-Key"] for c in api.calls}
    assert keys == {"esc-sync:task:2:sla-breach:1"}  # the same key: Zendesk answers the first
    assert zd.calls == {"POST /api/v2/tickets.json": 2}


def test_create_task_that_keeps_failing_looks_for_the_task_last(
    zd: ZendeskConnector, api: responses.RequestsMock
) -> None:
    api.post(TICKETS, body=requests.ReadTimeout("read timed out"))
    api.get(TICKETS, json={"tickets": [template_ticket(id=4016)], "count": 1})
    assert zd.create_task(task()) == 4016
    assert zd.calls["GET /api/v2/tickets.json"] == 1
    assert zd.calls["POST /api/v2/tickets.json"] > 1  # retried with its key first
