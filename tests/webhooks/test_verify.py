"""Signatures, secrets, the replay window and body parsing: the pure checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest

from esc_sync.webhooks.verify import (
    InvocationLog,
    parse_timestamp,
    ticket_id_of,
    verify,
    zendesk_signature,
)
from tests.frozen import FROZEN

# The fixed secret Zendesk signs test deliveries of not-yet-created webhooks with
# (helpdesk-apis.md A9, marked there as still to be verified against the live docs).
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
STAMP = "2026-03-04T16:05:00Z"
BODY = b'{"ticket_id": 42}'


def signed(
    secret: str = ZENDESK_TEST_SECRET, stamp: str = STAMP, body: bytes = BODY
) -> dict[str, str]:
    return {
        "x-zendesk-webhook-signature": zendesk_signature(secret, stamp, body),
        "x-zendesk-webhook-signature-timestamp": stamp,
    }


def test_signature_is_base64_hmac_sha256_of_timestamp_then_body() -> None:
    mac = hmac.new(ZENDESK_TEST_SECRET.encode(), (STAMP + BODY.decode()).encode(), hashlib.sha256)
    assert (
        zendesk_signature(ZENDESK_TEST_SECRET, STAMP, BODY)
        == base64.b64encode(mac.digest()).decode()
    )


@pytest.mark.parametrize(
    ("secret", "stamp", "body", "signature"),
    [
        # vectors computed with openssl, not with this code:
        #   printf '%s' "$STAMP$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
        ("secret", "ts", b"{}", "+MMBGhK2SOq+DxZJ2bQqYj+koV2cR+UFl0Iv+C0pXyI="),
        (ZENDESK_TEST_SECRET, STAMP, BODY, "tXcNeuHXWMkyNNgBDPLZH00VoMnsafQJTOR9ARu7Vqs="),
    ],
)
def test_known_vectors(secret: str, stamp: str, body: bytes, signature: str) -> None:
    assert zendesk_signature(secret, stamp, body) == signature
    assert verify(
        "zendesk",
        secret,
        {
            "x-zendesk-webhook-signature": signature,
            "x-zendesk-webhook-signature-timestamp": stamp,
        },
        body,
        FROZEN,
    ).ok is (stamp == STAMP)


def test_zendesk_test_secret_delivery_is_accepted() -> None:
    assert verify("zendesk", ZENDESK_TEST_SECRET, signed(), BODY, FROZEN).ok


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-zendesk-webhook-signature-timestamp": STAMP},
        {"x-zendesk-webhook-signature": zendesk_signature(ZENDESK_TEST_SECRET, STAMP, BODY)},
        signed(secret="another"),
        signed(body=b'{"ticket_id": 43}'),
        {**signed(), "x-zendesk-webhook-signature-timestamp": "2026-03-04T16:05:01Z"},
    ],
    ids=["none", "no-signature", "no-timestamp", "wrong-secret", "other-body", "other-stamp"],
)
def test_zendesk_refuses_what_was_not_signed_so(headers: dict[str, str]) -> None:
    verdict = verify("zendesk", ZENDESK_TEST_SECRET, headers, BODY, FROZEN)
    assert not verdict.ok
    assert ZENDESK_TEST_SECRET not in verdict.reason


@pytest.mark.parametrize("skew", [timedelta(minutes=-5), timedelta(0), timedelta(minutes=5)])
def test_replay_window_holds_five_minutes_either_way(skew: timedelta) -> None:
    assert verify("zendesk", ZENDESK_TEST_SECRET, signed(), BODY, FROZEN + skew).ok


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=-5, seconds=-1), timedelta(minutes=5, seconds=1), timedelta(days=3)]
)
def test_replayed_delivery_outside_the_window_is_refused(skew: timedelta) -> None:
    verdict = verify("zendesk", ZENDESK_TEST_SECRET, signed(), BODY, FROZEN + skew)
    assert not verdict.ok
    assert "window" in verdict.reason


def test_no_secret_configured_refuses_everything() -> None:
    assert not verify("zendesk", "", signed(secret=""), BODY, FROZEN).ok
    assert not verify("freshdesk", "", {"x-esc-sync-secret": ""}, BODY, FROZEN).ok


@pytest.mark.parametrize("kind", ["freshdesk", "rt"])
def test_shared_secret_header(kind: str) -> None:
    assert verify(kind, "s3cret", {"x-esc-sync-secret": "s3cret"}, BODY, FROZEN).ok
    assert not verify(kind, "s3cret", {"x-esc-sync-secret": "s3cre"}, BODY, FROZEN).ok
    assert not verify(kind, "s3cret", {"x-esc-sync-secret": "s3cret "}, BODY, FROZEN).ok
    assert not verify(kind, "s3cret", {}, BODY, FROZEN).ok
    # a Zendesk signature is no substitute for the shared secret
    assert not verify(kind, "s3cret", signed(secret="s3cret"), BODY, FROZEN).ok


def test_timestamps() -> None:
    assert parse_timestamp(STAMP) == FROZEN
    assert parse_timestamp(str(int(FROZEN.timestamp()))) == FROZEN
    for bad in ("", "yesterday", "2026-03-04T16:05:00", "9" * 30):
        assert parse_timestamp(bad) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"ticket_id": 42}', 42),
        (b'{"ticket_id": "42"}', 42),
        (b'{"ticket_id": 19856122753300}', 19856122753300),
        (b'{"freshdesk_webhook": {"ticket_id": 7}}', 7),
        (b'{"freshdesk_webhook": {"ticket_id": "7"}}', 7),
        (b'{"type": "zen:event-type:ticket.comment_added", "detail": {"id": "35"}}', 35),
        (b'{"type": "zen:event-type:user.created", "detail": {"id": "35"}}', None),
        (b'{"ticket_id": null}', None),
        (b'{"ticket_id": true}', None),
        (b'{"ticket_id": 0}', None),
        (b'{"ticket_id": -3}', None),
        (b'{"ticket_id": 4.5}', None),
        (b'{"ticket_id": "4x"}', None),
        (b'{"ticket_id": 99999999999999999999999}', None),
        (b'{"id": 4}', None),
        (b"[42]", None),
        (b"42", None),
        (b"", None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
    ],
)
def test_ticket_id_of(body: bytes, expected: int | None) -> None:
    assert ticket_id_of(body) == expected


def test_invocation_log_forgets_after_twice_the_window() -> None:
    seen = InvocationLog()
    seen.add("zd", "inv-1", FROZEN)
    assert seen.seen("zd", "inv-1", FROZEN + timedelta(minutes=9))
    assert not seen.seen("other", "inv-1", FROZEN)
    assert not seen.seen("zd", "inv-1", FROZEN + timedelta(minutes=11))


def test_invocation_log_is_bounded() -> None:
    seen = InvocationLog(limit=3)
    for i in range(5):
        seen.add("zd", f"inv-{i}", FROZEN)
    assert not seen.seen("zd", "inv-0", FROZEN)
    assert seen.seen("zd", "inv-4", FROZEN)
