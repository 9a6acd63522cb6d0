"""Fuzzing the listener: whatever the headers and body, it answers one of the fixed statuses,
and nothing unauthenticated reaches the queue (the only way to a helpdesk read or write)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_sync.webhooks.verify import ticket_id_of

from .conftest import FD_SECRET, STAMP, make_hooks, zendesk_headers

ANSWERS = {202, 400, 401, 404, 405, 413, 429}
HEADER_NAMES = st.sampled_from(
    [
        "X-Zendesk-Webhook-Signature",
        "X-Zendesk-Webhook-Signature-Timestamp",
        "X-Zendesk-Webhook-Invocation-Id",
        "X-Esc-Sync-Secret",
        "Content-Type",
        "X-Other",
    ]
)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
JSON_DOCS = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["ticket_id", "freshdesk_webhook", "type", "detail", "id", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
BODIES = st.binary(max_size=300) | JSON_DOCS.map(lambda d: __import__("json").dumps(d).encode())
CONNECTORS = st.sampled_from(["zd", "fd", "rt", "nosecret", "unknown", "zd%2F..", ""])
METHODS = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"])

hooks = make_hooks()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=METHODS,
    connector=CONNECTORS,
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4),
    body=BODIES,
)
def test_unauthenticated_requests_never_poke(
    method: str, connector: str, headers: dict[str, str], body: bytes
) -> None:
    answer = hooks.client.request(method, f"/webhooks/{connector}", content=body, headers=headers)
    assert answer.status_code in ANSWERS | {404}
    assert hooks.pokes.pending() == 0


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES, signed_zendesk=st.booleans())
def test_authenticated_requests_poke_exactly_the_ticket_the_body_names(
    body: bytes, signed_zendesk: bool
) -> None:
    if signed_zendesk:
        name, headers = "zd", zendesk_headers(body, stamp=STAMP)
    else:
        name, headers = "fd", {"X-Esc-Sync-Secret": FD_SECRET}
    answer = hooks.client.post(f"/webhooks/{name}", content=body, headers=headers)
    expected = ticket_id_of(body)
    taken = hooks.pokes.take(name)
    if expected is None:
        assert answer.status_code == 400 and taken == []
    else:
        assert answer.status_code == 202 and taken == [expected]
