"""A webhook app over two connectors (a Zendesk and a Freshdesk one) and a real poke queue."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from esc_sync.webhooks.app import HookTarget, WebhookEndpoint, build_app
from esc_sync.webhooks.queue import PokeQueue
from esc_sync.webhooks.verify import zendesk_signature
from tests.frozen import FROZEN

ZD_SECRET = "zd-signing-secret"
FD_SECRET = "fd-shared-secret"
STAMP = FROZEN.strftime("%Y-%m-%dT%H:%M:%SZ")


def zendesk_headers(
    body: bytes, stamp: str = STAMP, invocation: str | None = None, secret: str = ZD_SECRET
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": zendesk_signature(secret, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    if invocation is not None:
        headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return headers


@dataclass
class Hooks:
    client: TestClient
    pokes: PokeQueue
    answers: list[tuple[str, int]]


def make_hooks(limit: int = 10_000) -> Hooks:
    pokes = PokeQueue(limit)
    answers: list[tuple[str, int]] = []
    targets = {
        "zd": HookTarget("zendesk", SecretStr(ZD_SECRET)),
        "fd": HookTarget("freshdesk", SecretStr(FD_SECRET)),
        "rt": HookTarget("rt", SecretStr("rt-secret")),
        "nosecret": HookTarget("freshdesk", SecretStr("")),
    }
    endpoint = WebhookEndpoint(
        targets, pokes, lambda: FROZEN, on_answer=lambda c, s: answers.append((c, s))
    )
    return Hooks(TestClient(build_app(endpoint)), pokes, answers)


@pytest.fixture()
def hooks() -> Hooks:
    return make_hooks()
