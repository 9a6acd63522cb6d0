"""`POST /webhooks/<connector>`: every answer the contract fixes, and what reaches the queue."""

from __future__ import annotations

import json

from esc_sync.webhooks.verify import MAX_BODY

from .conftest import FD_SECRET, Hooks, make_hooks, zendesk_headers


def test_signed_zendesk_delivery_pokes_the_ticket(hooks: Hooks) -> None:
    body = b'{"ticket_id": 42}'
    answer = hooks.client.post("/webhooks/zd", content=body, headers=zendesk_headers(body))
    assert answer.status_code == 202
    assert answer.json() == {"status": "queued", "ticket_id": 42}
    assert hooks.pokes.take("zd") == [42]


def test_zendesk_event_subscription_body(hooks: Hooks) -> None:
    body = json.dumps(
        {
            "type": "zen:event-type:ticket.comment_added",
            "detail": {"id": "35"},
            "event": {"comment": {"body": "ignored: a poke is not a source of truth"}},
        }
    ).encode()
    assert (
        hooks.client.post("/webhooks/zd", content=body, headers=zendesk_headers(body)).status_code
        == 202
    )
    assert hooks.pokes.take("zd") == [35]


def test_freshdesk_automation_body_with_shared_secret(hooks: Hooks) -> None:
    answer = hooks.client.post(
        "/webhooks/fd",
        json={"freshdesk_webhook": {"ticket_id": "7"}},
        headers={"X-Esc-Sync-Secret": FD_SECRET},
    )
    assert answer.status_code == 202
    assert hooks.pokes.take("fd") == [7]


def test_rt_with_shared_secret(hooks: Hooks) -> None:
    answer = hooks.client.post(
        "/webhooks/rt", json={"ticket_id": 9}, headers={"X-Esc-Sync-Secret": "rt-secret"}
    )
    assert answer.status_code == 202
    assert hooks.pokes.take("rt") == [9]


def test_wrong_or_missing_secret_is_401_and_queues_nothing(hooks: Hooks) -> None:
    body = b'{"ticket_id": 42}'
    cases = [
        ("zd", {}),
        ("zd", zendesk_headers(body, secret="guess")),
        ("zd", {"X-Esc-Sync-Secret": "zd-signing-secret"}),
        ("fd", {}),
        ("fd", {"X-Esc-Sync-Secret": "guess"}),
        ("nosecret", {"X-Esc-Sync-Secret": ""}),
        ("nosecret", {}),
    ]
    for name, headers in cases:
        answer = hooks.client.post(f"/webhooks/{name}", content=body, headers=headers)
        assert answer.status_code == 401, (name, headers)
        assert "secret" not in answer.text.replace("unauthenticated", "")
    assert hooks.pokes.pending() == 0


def test_replayed_delivery_is_401(hooks: Hooks) -> None:
    body = b'{"ticket_id": 42}'
    old = zendesk_headers(body, stamp="2026-03-04T15:59:59Z")  # 5 min 1 s before the clock
    assert hooks.client.post("/webhooks/zd", content=body, headers=old).status_code == 401
    assert hooks.pokes.pending() == 0


def test_redelivery_of_an_invocation_is_accepted_once(hooks: Hooks) -> None:
    body = b'{"ticket_id": 42}'
    headers = zendesk_headers(body, invocation="01HZZ-inv-1")
    first = hooks.client.post("/webhooks/zd", content=body, headers=headers)
    assert hooks.pokes.take("zd") == [42]
    again = hooks.client.post("/webhooks/zd", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["status"] == "duplicate"
    assert hooks.pokes.take("zd") == []
    other = zendesk_headers(body, invocation="01HZZ-inv-2")
    assert (
        hooks.client.post("/webhooks/zd", content=body, headers=other).json()["status"] == "queued"
    )


def test_unknown_connector_is_404(hooks: Hooks) -> None:
    assert hooks.client.post("/webhooks/nope", json={"ticket_id": 1}).status_code == 404


def test_not_post_is_405(hooks: Hooks) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert hooks.client.request(method, "/webhooks/zd").status_code == 405


def test_body_over_64_kb_is_413(hooks: Hooks) -> None:
    body = json.dumps({"ticket_id": 1, "pad": "x" * MAX_BODY}).encode()
    answer = hooks.client.post(
        "/webhooks/fd", content=body, headers={"X-Esc-Sync-Secret": FD_SECRET}
    )
    assert answer.status_code == 413
    exact = b'{"ticket_id": 1, "p": "' + b"x" * (MAX_BODY - 25) + b'"}'
    assert len(exact) <= MAX_BODY
    ok = hooks.client.post("/webhooks/fd", content=exact, headers={"X-Esc-Sync-Secret": FD_SECRET})
    assert ok.status_code == 202


def test_chunked_body_over_64_kb_is_413(hooks: Hooks) -> None:
    def chunks():  # no Content-Length: the size is counted while reading
        for _ in range(70):
            yield b"x" * 1024

    answer = hooks.client.post(
        "/webhooks/fd", content=chunks(), headers={"X-Esc-Sync-Secret": FD_SECRET}
    )
    assert answer.status_code == 413


def test_no_ticket_id_is_400(hooks: Hooks) -> None:
    for body in (b"", b"{}", b"not json", b'{"ticket_id": "abc"}', b'{"freshdesk_webhook": 3}'):
        answer = hooks.client.post(
            "/webhooks/fd", content=body, headers={"X-Esc-Sync-Secret": FD_SECRET}
        )
        assert answer.status_code == 400, body
    assert hooks.pokes.pending() == 0


def test_malformed_body_of_an_unauthenticated_request_is_401_not_400(hooks: Hooks) -> None:
    assert hooks.client.post("/webhooks/fd", content=b"not json").status_code == 401


def test_full_queue_is_429_but_a_waiting_ticket_still_coalesces() -> None:
    hooks = make_hooks(limit=2)
    headers = {"X-Esc-Sync-Secret": FD_SECRET}
    codes = [
        hooks.client.post("/webhooks/fd", json={"ticket_id": t}, headers=headers).status_code
        for t in (1, 2, 3, 1)
    ]
    assert codes == [202, 202, 429, 202]
    assert hooks.pokes.take("fd") == [1, 2]


def test_answers_are_counted_for_metrics(hooks: Hooks) -> None:
    hooks.client.post(
        "/webhooks/fd", json={"ticket_id": 1}, headers={"X-Esc-Sync-Secret": FD_SECRET}
    )
    hooks.client.post("/webhooks/nope", json={"ticket_id": 1})
    assert hooks.answers == [("fd", 202), ("", 404)]


def test_healthz_without_a_health_source(hooks: Hooks) -> None:
    assert hooks.client.get("/healthz").json() == {"status": "ok"}
