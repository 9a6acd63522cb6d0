"""RT write-back on captured answers: If-Match, 412, refusals in a 200, messages, tasks, auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import responses

from esc_sync.connectors.rt.connector import RTConnector
from esc_sync.connectors.rt.writes import failures, update_body
from esc_sync.errors import AuthError, ConflictError, HelpdeskError, TransientError
from esc_sync.model import TaskCreate, TicketUpdate
from tests.connectors.rt_payloads import API, connector, load, manifest, profile, raw

TICKET = f"{API}/ticket/7"
ETAG = manifest("ticket_show.json")["headers"]["ETag"]  # '"164"'
FEED_VERSION = "2026-11-22T19:55:42Z"
EXTERNAL = "esc-sync:rt:7:ep1:t2:call-customer"


def show(etag: str = ETAG) -> None:
    """The captured ticket with its ETag."""
    responses.get(TICKET, body=raw("ticket_show.json"), headers={"ETag": etag})


def posted(kind: str) -> None:
    """The captured answer of a comment or correspond, with its Location."""
    name = "comment_created.json" if kind == "comment" else "correspond_created.json"
    location = manifest(name)["headers"]["Location"]
    responses.post(f"{TICKET}/{kind}", body=raw(name), status=201, headers={"Location": location})


def escalation(version: str | None = FEED_VERSION) -> TicketUpdate:
    """The write the worker sends when it escalates ticket 7 to t2."""
    return TicketUpdate(
        ticket_id=7,
        version=version,
        tags=("billing", "invoice", "esc-repeat"),
        group="Support T2",
        priority="high",
        status="open",
        custom_fields={
            "escalation_status": "t2 escalated",
            "respond_by": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
            "resolve_by": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        },
        note="Escalated to t2.\n\nesc-sync:rt:7:ep1:t2",
    )


@responses.activate
def test_one_conditional_put_then_the_marker_comment() -> None:
    show()
    responses.put(TICKET, body=raw("put_escalation_ok.json"))
    posted("comment")

    stamp = connector().apply_update(escalation())

    get, put, comment = responses.calls
    assert put.request.headers["If-Match"] == '"164"'
    assert json.loads(put.request.body or b"{}") == {
        "Queue": "Support T2",
        "Priority": 50,
        "Status": "open",
        "CustomFields": {
            "Tags": ["billing", "invoice", "esc-repeat"],
            "Escalation Status": "t2 escalated",
            "Respond By": "2026-11-23 10:00:00",
            "Resolve By": "2026-11-24 10:00:00",
        },
    }
    assert "If-Match" not in get.request.headers and "If-Match" not in comment.request.headers
    assert json.loads(comment.request.body or b"{}") == {
        "Content": "Escalated to t2.\n\nesc-sync:rt:7:ep1:t2",
        "ContentType": "text/plain",
    }
    assert stamp == "etag:171"  # the comment's transaction: RT's ETag right after it


@responses.activate
def test_an_exact_etag_version_is_compared_with_the_current_etag() -> None:
    show()
    responses.put(TICKET, body=raw("put_escalation_ok.json"))
    posted("comment")
    connector().apply_update(escalation(version="etag:164"))

    show('"170"')
    with pytest.raises(ConflictError, match="changed since it was read"):
        connector().apply_update(escalation(version="etag:164"))


@responses.activate
def test_a_moved_last_updated_is_a_conflict_before_anything_is_written() -> None:
    show()
    with pytest.raises(ConflictError):
        connector().apply_update(escalation(version="2026-11-22T19:55:30Z"))
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_a_412_is_a_conflict_and_no_comment_follows() -> None:
    show()
    responses.put(TICKET, body=raw("error_412_precondition_failed.json"), status=412)
    with pytest.raises(ConflictError) as exc:
        connector().apply_update(escalation())
    assert exc.value.status == 412 and exc.value.ticket_id == 7
    assert [c.request.method for c in responses.calls] == ["GET", "PUT"]


@pytest.mark.parametrize(
    ("fixture", "says"),
    [
        ("put_refused_queue.json", "Queue No Such Queue does not exist"),
        ("put_refused_owner.json", "That user does not exist"),
        ("put_refused_cf_value.json", "Invalid value for custom field"),
        ("put_refused_status.json", "isn't a valid status"),
    ],
)
@responses.activate
def test_a_refusal_inside_a_200_is_an_error_naming_ticket_and_message(
    fixture: str, says: str
) -> None:
    show()
    responses.put(TICKET, body=raw(fixture))
    with pytest.raises(HelpdeskError) as exc:
        connector().apply_update(escalation())
    assert "ticket 7" in str(exc.value) and says in str(exc.value)
    assert not isinstance(exc.value, ConflictError)
    assert [c.request.method for c in responses.calls] == ["GET", "PUT"]  # no marker comment


def test_success_messages_echoing_failure_words_are_not_failures() -> None:
    messages = [
        "invalid-login added as a value for Tags",
        "Escalation Status could not reach t1 changed to t2 escalated",
        "Ticket 7: Priority changed from 'Low' to 'Medium'",
        *load("put_escalation_ok.json"),
    ]
    cfs = ["Tags", "Escalation Status", "Respond By", "Resolve By"]
    assert failures(messages, cfs) == ([], [])
    assert failures(["Something new happened"], cfs) == ([], ["Something new happened"])


@responses.activate
def test_a_custom_field_the_ticket_lacks_is_refused_before_writing() -> None:
    show()
    rt = connector(fields={"escalation_status": "Escalation Stage", "tags": "Tags"})
    with pytest.raises(HelpdeskError, match="'Escalation Stage' do not exist"):
        rt.apply_update(TicketUpdate(ticket_id=7, version=None, custom_fields={
            "escalation_status": "t2 escalated"}))  # fmt: skip
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_the_customer_message_is_correspondence_without_a_version_check() -> None:
    posted("correspond")
    stamp = connector().apply_update(
        TicketUpdate(ticket_id=7, version="etag:1", customer_message="We escalated it.")
    )
    (call,) = responses.calls
    assert call.request.url == f"{TICKET}/correspond"
    assert stamp == "etag:172"


@responses.activate
def test_a_comment_answered_with_something_else_is_an_error() -> None:
    responses.post(f"{TICKET}/comment", json=["Permission Denied"], status=201)
    show()
    with pytest.raises(HelpdeskError, match="unexpected answer: Permission Denied"):
        connector().apply_update(TicketUpdate(ticket_id=7, version=None, note="note"))


def task() -> TaskCreate:
    """The captured follow-up task."""
    return TaskCreate(
        external_id=EXTERNAL,
        title="Call the customer",
        body=f"Call the customer back within the hour.\n\n{EXTERNAL}",
        due_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        group="Support T2",
        parent_ticket=7,
    )


@responses.activate
def test_a_task_is_a_child_ticket_in_the_tier_queue_carrying_its_id() -> None:
    responses.post(f"{API}/ticket", body=raw("ticket_created.json"), status=201)
    responses.get(f"{API}/tickets", json=load("tickets_search_task.json"))
    rt = connector()
    assert rt.create_task(task()) == 8
    assert (
        json.loads(responses.calls[0].request.body or b"{}")
        == manifest("ticket_created.json")["body"]
    )
    # the task id is read back once per queue: a second task there costs no search
    assert rt.create_task(task()) == 8
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST"]


@responses.activate
def test_a_task_id_rt_dropped_is_an_error_naming_queue_and_field() -> None:
    from structlog.testing import capture_logs

    responses.post(f"{API}/ticket", body=raw("ticket_created.json"), status=201)
    responses.get(f"{API}/tickets", json={"items": [], "count": 0, "page": 1, "per_page": 100})
    with capture_logs() as logs:
        assert connector().create_task(task()) == 8  # it exists: its id is kept, not lost
    dropped = [e for e in logs if e["event"] == "rt.task_id_dropped"]
    assert len(dropped) == 1 and dropped[0]["log_level"] == "error"
    assert dropped[0]["field"] == "Task Id" and dropped[0]["queue"]


def test_rt_may_live_under_a_path_and_the_others_may_not(tmp_path: Path) -> None:
    from esc_sync.config import load_profile
    from esc_sync.errors import ConfigError

    rt = profile(base_url="https://help.example.com/rt/")
    assert RTConnector(rt).client.http.base_url == "https://help.example.com/rt/REST/2.0"
    zendesk = tmp_path / "zd.toml"
    zendesk.write_text(
        'type = "zendesk"\nbase_url = "https://acme.zendesk.com/api"\nemail = "b@acme.com"\n'
        'token_env = "T"\n'
    )
    with pytest.raises(ConfigError, match="base_url: zendesk answers at the root"):
        load_profile(zendesk, "zd", environ={"T": "x"})


@responses.activate
def test_find_task_searches_the_task_id_field() -> None:
    responses.get(f"{API}/tickets", json=load("tickets_search_task.json"))
    assert connector().find_task(EXTERNAL) == 8
    query = responses.calls[0].request.params["query"]
    assert query == f"'CF.{{Task Id}}' = '{EXTERNAL}'"


@responses.activate
def test_an_ambiguous_create_that_landed_is_found_by_its_id() -> None:
    responses.post(f"{API}/ticket", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{API}/tickets", json=load("tickets_search_task.json"))
    assert connector().create_task(task()) == 8
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]  # never re-posted


@responses.activate
def test_an_ambiguous_create_that_did_not_land_raises() -> None:
    responses.post(f"{API}/ticket", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{API}/tickets", json={"items": [], "count": 0, "page": 1, "per_page": 100})
    with pytest.raises(TransientError):
        connector().create_task(task())


@responses.activate
def test_a_refused_token_is_an_auth_error() -> None:
    responses.get(f"{API}/rt", body=raw("error_401_unauthorized.json"), status=401)
    with pytest.raises(AuthError) as exc:
        connector().check_auth()
    assert "Unauthorized" in str(exc.value) and "1-33-" not in str(exc.value)


@responses.activate
def test_check_auth_learns_the_bot_user_id() -> None:
    responses.get(f"{API}/rt", json={"Version": "5.0.3+dfsg-3~deb12u6", "Plugins": []})
    responses.get(f"{API}/user/escalation-bot", json={"id": 33, "Name": "escalation-bot"})
    rt = connector()
    rt.check_auth()
    assert rt.bot_user_id == 33


def test_deadlines_handed_over_as_iso_text_are_written_in_rt_s_format() -> None:
    update = TicketUpdate(
        ticket_id=7,
        version=None,
        custom_fields={
            "respond_by": "2026-11-23T16:00:00Z",  # what the planner sends
            "resolve_by": "2026-11-23T18:30:00+01:00",
            "escalation_status": "t2 escalated at 2026-11-22T20:11:14Z",
        },
    )
    assert update_body(update, profile())["CustomFields"] == {
        "Respond By": "2026-11-23 16:00:00",
        "Resolve By": "2026-11-23 17:30:00",
        "Escalation Status": "t2 escalated at 2026-11-22T20:11:14Z",
    }
