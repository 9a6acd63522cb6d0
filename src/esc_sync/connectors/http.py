"""The HTTP core every connector shares: one session, timeouts, retries, error mapping, quota.

Classification is by status code only (vendor bodies may be text/plain or HTML):

    401                      AuthError
    403                      AuthError (account call) | SkippableError (per-ticket call)
    404, 422                 SkippableError (per-ticket call) | HelpdeskError (account call)
    400 (when configured)    SkippableError (per-ticket call): Freshdesk's "Validation failed"
    409                      ConflictError on a write (never retried) | TransientError on a read
    429                      RateLimited(retry_after)
    5xx, timeouts, resets    TransientError
    any other 4xx            HelpdeskError

Transient failures are retried with tenacity: the server's Retry-After when given, else
exponential backoff with jitter; at most `max_retries` retries and `max_wait` seconds of waiting.
Writes that may already have landed (a POST, or a PUT marked not idempotent) are retried only
when the server certainly refused them (429, 503, connect failure).

Response hooks (`add_response_hook`) are told of every HTTP answer received, retried ones
included: its status code, method and path template. Metrics count 429s with one. Idle hooks
(`add_idle_hook`) are told, every so often, that the client is pausing on purpose (a 429's
Retry-After, a quota or shared account pause, a listing's pacing: everything through `pause`);
the worker keeps its lease alive through both.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from esc_sync import logs
from esc_sync.clock import wait_alive
from esc_sync.config import ConnectorProfile
from esc_sync.connectors.budget import Budget
from esc_sync.connectors.quota import Quota, as_int, read_quota
from esc_sync.errors import (
    AuthError,
    ConflictError,
    HelpdeskError,
    RateLimited,
    SkippableError,
    TransientError,
)

Scope = Literal["account", "ticket"]
Sleep = Callable[[float], None]
ResponseHook = Callable[[int, str, str], None]  # (status code, method, path template)
IdleHook = Callable[[], None]  # still pausing on purpose

RETRY_AFTER_MIN = 1.0
RETRY_AFTER_MAX = 900.0
RATE_LIMIT_MIN_WAIT = 10.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
__all__ = [
    "Budget",
    "HttpClient",
    "IdleHook",
    "Quota",
    "ResponseHook",
    "parse_retry_after",
    "path_template",
    "read_quota",
]
_ID_SEGMENT = re.compile(r"(?<=/)\d+(?=/|\.json$|$)")


class stop_after_waiting(stop_base):  # lower-case like tenacity's own strategies
    """Stop once the waits so far plus the next one would pass a total-time cap."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        """True when the next sleep would exceed the budget (fake sleeps count too)."""
        return retry_state.idle_for + retry_state.upcoming_sleep > self.max_wait


# Statuses that concern one ticket (skip it, keep going) unless a connector says otherwise.
SKIPPABLE = frozenset({403, 404, 422})


def _clamp(value: float, low: float, high: float) -> float:
    """Value limited to [low, high]."""
    return max(low, min(high, value))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta or HTTP-date), clamped; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):  # NaN, inf
        return None
    return _clamp(seconds, RETRY_AFTER_MIN, RETRY_AFTER_MAX)


def path_template(path: str) -> str:
    """The path with numeric ids replaced by {id}, for counting calls by endpoint."""
    return _ID_SEGMENT.sub("{id}", path.split("?", 1)[0])


def vendor_details(response: requests.Response) -> tuple[str | None, str]:
    """The vendor's error code and a short description from a JSON error body, if any."""
    try:
        body = response.json()
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    error = body.get("error")
    code = error if isinstance(error, str) else None
    parts: list[str] = []
    if isinstance(error, dict):
        code = str(error.get("title")) if error.get("title") else None
        if error.get("message"):
            parts.append(str(error["message"]))
    if isinstance(body.get("description"), str):
        parts.append(body["description"])
    errors = body.get("errors")
    if isinstance(errors, list):  # Freshdesk: [{"field", "message", "code"}]
        for item in (e for e in errors if isinstance(e, dict)):
            code = code or (str(item["code"]) if item.get("code") else None)
            where = f"{item['field']}: " if item.get("field") else ""
            tail = f" ({item['code']})" if item.get("code") else ""
            parts.append(f"{where}{item.get('message', '')}{tail}")
    details = body.get("details")
    if isinstance(details, dict):
        for field_name, items in details.items():
            for item in items if isinstance(items, list) else [items]:
                text = item.get("description") if isinstance(item, dict) else item
                parts.append(f"{field_name}: {text}")
    return code, "; ".join(parts)


class HttpClient:
    """One helpdesk account's HTTP access: the only place requests are sent."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: requests.auth.AuthBase,
        timeout: tuple[float, float],
        max_retries: int,
        secrets: tuple[str, ...] = (),
        connector: str = "",
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        max_wait: float = 900.0,
        skippable: frozenset[int] = SKIPPABLE,
        budget: Budget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.calls: Counter[str] = Counter()
        self.credits: Counter[str] = Counter()  # X-RateLimit-Used-CurrentRequest, by endpoint
        self.last_quota: Quota | None = None
        self.last_headers: Mapping[str, str] = {}
        self._skippable = skippable
        self._auth = auth
        self._timeout = timeout
        self._attempts = max(1, max_retries + 1)
        self._secrets = tuple(x for x in secrets if x)
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._idle_hooks: list[IdleHook] = []
        self._idle_every = math.inf
        self.budget = budget if budget is not None else Budget(sleep=self.pause, name=connector)
        self._max_wait = max_wait
        self._backoff = wait_exponential_jitter(initial=1, max=60, jitter=1)
        self._log = logs.get_logger("esc_sync.connectors", connector=connector)
        self._response_hooks: list[ResponseHook] = []

    @classmethod
    def for_profile(
        cls,
        profile: ConnectorProfile,
        *,
        auth: requests.auth.AuthBase,
        secrets: tuple[str, ...],
        default_name: str,
        path: str = "",
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        skippable: frozenset[int] = SKIPPABLE,
    ) -> HttpClient:
        """A client for a connector profile: its URL (plus `path`), timeouts and retries."""
        return cls(
            base_url=profile.base_url.rstrip("/") + path,
            auth=auth,
            timeout=profile.timeout,
            max_retries=profile.max_retries,
            secrets=secrets,
            connector=profile.name or default_name,
            session=session,
            sleep=sleep,
            skippable=skippable,
        )

    def add_response_hook(self, hook: ResponseHook) -> None:
        """Call `hook(status, method, path_template)` for every answer, retried ones included.

        Hooks run on the requesting thread before the answer is classified: keep them quick,
        and do not raise.
        """
        self._response_hooks.append(hook)

    def add_idle_hook(self, hook: IdleHook, every: float) -> None:
        """Call `hook()` at least every `every` seconds while this client pauses on purpose
        (`pause`), and once as each pause ends. A request that hangs is no pause: no idle hook
        runs until it returns. Like response hooks: keep them quick, and do not raise.
        """
        self._idle_hooks.append(hook)
        self._idle_every = min(self._idle_every, every)

    def pause(self, seconds: float) -> None:
        """Sleep on purpose (the budget's 429, quota and account pauses come through here, and a
        connector's own pacing), in slices that let the idle hooks know."""
        wait_alive(self._sleep, seconds, self._idle_every, self._idle)

    def _idle(self) -> None:
        """Tell every idle hook that the client is still pausing."""
        for hook in self._idle_hooks:
            hook()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ticket_id: int | None = None,
        scope: Scope = "account",
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one logical request (with retries) and return its decoded JSON body.

        `headers` are added to this request only (a precondition such as `If-Match`)."""
        method = method.upper()
        safe_to_repeat = method not in {"POST", "PATCH"} if idempotent is None else idempotent
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts) | stop_after_waiting(self._max_wait),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._retryable(exc, safe_to_repeat)),
            sleep=self.budget.rest,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._send_once, method, path, params, json_body, ticket_id, scope, headers)

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        ticket_id: int | None,
        scope: Scope,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One attempt: wait for the budget, send, note the quota, classify, decode."""
        template = path_template(path)
        endpoint = f"{method} {template}"
        self.budget.wait_turn(write=method in WRITE_METHODS)
        self.calls[endpoint] += 1
        where = self._where(endpoint, ticket_id)
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json", **(headers or {})},
            )
        except requests.ConnectTimeout as exc:
            raise _Unsent(f"{where}: connect timeout", ticket_id=ticket_id) from exc
        except requests.Timeout as exc:
            raise TransientError(f"{where}: read timeout", ticket_id=ticket_id) from exc
        except requests.ConnectionError as exc:
            raise TransientError(
                f"{where}: connection failed ({type(exc).__name__})", ticket_id=ticket_id
            ) from exc
        for hook in self._response_hooks:
            hook(response.status_code, method, template)
        self._note_quota(response)
        used = as_int(response.headers.get("X-RateLimit-Used-CurrentRequest"))
        if used is not None:
            self.credits[endpoint] += used
        if response.status_code >= 400:
            raise self._classify(response, method, where, ticket_id, scope)
        self.last_headers = response.headers
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(
                f"{where}: HTTP {response.status_code} body is not JSON", ticket_id=ticket_id
            ) from exc

    def _where(self, endpoint: str, ticket_id: int | None) -> str:
        """The error-message prefix: method, path template and ticket (never the secret)."""
        return endpoint if ticket_id is None else f"{endpoint} (ticket {ticket_id})"

    def _redact(self, text: str) -> str:
        """Text with every secret form removed, in case a body echoes one."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _classify(
        self,
        response: requests.Response,
        method: str,
        where: str,
        ticket_id: int | None,
        scope: Scope,
    ) -> HelpdeskError:
        """The typed error for a failed response, by status code only."""
        status = response.status_code
        code, description = vendor_details(response)
        if not description and not code:
            description = response.text.strip()[:200]
        message = self._redact(f"{where}: HTTP {status}" + (f" {code}" if code else ""))
        if description:
            message += ": " + self._redact(description)
        kw: dict[str, Any] = {"status": status, "ticket_id": ticket_id, "code": code}
        if status == 401 or (status == 403 and scope == "account"):
            return AuthError(message, **kw)
        if status in self._skippable and scope == "ticket":
            return SkippableError(message, **kw)
        if status == 409:
            if method in WRITE_METHODS:
                return ConflictError(message, **kw)
            return TransientError(message, **kw)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RateLimited(message, retry_after=retry_after, **kw)
        if status == 503:
            return _Refused(message, retry_after=retry_after, **kw)
        if status >= 500:
            return TransientError(message, retry_after=retry_after, **kw)
        return HelpdeskError(message, **kw)

    def _note_quota(self, response: requests.Response) -> None:
        """Feed the account budget from the headers; after a 429, pause the whole account."""
        quota = self.budget.observe(response.headers)
        if quota is not None:
            self.last_quota = quota
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.budget.pause(retry_after if retry_after is not None else RATE_LIMIT_MIN_WAIT)

    @staticmethod
    def _retryable(exc: BaseException, safe_to_repeat: bool) -> bool:
        """Whether another attempt is allowed for this failure."""
        if not isinstance(exc, TransientError):
            return False
        if safe_to_repeat:
            return True
        # The request may have landed: repeat it only when the server surely refused it.
        return isinstance(exc, RateLimited | _Refused | _Unsent)

    def _wait(self, retry_state: RetryCallState) -> float:
        """Retry-After when the server gave one, else exponential backoff with jitter."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = float(self._backoff(retry_state))
        # A 429 without Retry-After: the budgets are per minute, so quick retries only burn it.
        return max(backoff, RATE_LIMIT_MIN_WAIT) if isinstance(exc, RateLimited) else backoff

    def _log_retry(self, retry_state: RetryCallState) -> None:
        """Log each retry with its cause and pause (messages are already secret-free)."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        self._log.warning(
            "http.retry",
            attempt=retry_state.attempt_number,
            wait=round(retry_state.upcoming_sleep, 3),
            status=getattr(exc, "status", None),
            ticket=getattr(exc, "ticket_id", None),
            error=str(exc),
        )


class _Refused(TransientError):
    """A 503: the server refused the request, so even a write may be repeated."""


class _Unsent(TransientError):
    """The connection was never made, so even a write may be repeated."""
