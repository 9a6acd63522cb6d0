"""Every error esc-sync raises on purpose, in one tree.

    EscSyncError
    ├── ConfigError              bad config, profile or policy: fail at start, exit 1
    │   └── PolicyError          policy problems, each with file, rule id and field
    └── HelpdeskError            anything a connector met talking to a helpdesk
        ├── TransientError       429, 5xx, a 409 on a read, timeouts, connection errors: retry
        │   ├── RateLimited      429 with the pause the helpdesk asked for
        │   └── HelpdeskUnusable many tickets in a row failed: the cycle ends, exit 3
        ├── AuthError            401/403 on the account: stop that connector, exit 3
        ├── ConflictError        a write refused with 409 (safe_update): re-read, re-evaluate
        ├── SkippableError       one ticket's 403/404/422 or an unparseable payload: record, move on
        └── PaginationStalled    a cursor or page that does not advance
    StateError                   the state store cannot be used
    ├── StateUnavailable         the database cannot be reached (at start: exit 3; mid-cycle:
    │                            that cycle fails, the next one retries)
    ├── SchemaTooNew             the database was written by a newer esc-sync: exit 1
    └── LeaseLost                another worker holds the connector now: nothing is recorded

Connectors classify by HTTP status code, never by message text: bodies may be text/plain or HTML.
"""

from __future__ import annotations


class EscSyncError(Exception):
    """Base of every esc-sync error."""


class ConfigError(EscSyncError):
    """A setting, profile or policy is missing or wrong; carries every problem found."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class PolicyError(ConfigError):
    """The policy failed validation."""


class HelpdeskError(EscSyncError):
    """A helpdesk answered with an error or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        ticket_id: int | None = None,
        code: str | None = None,
    ) -> None:
        self.status = status
        self.ticket_id = ticket_id
        self.code = code
        super().__init__(message)


class TransientError(HelpdeskError):
    """Worth retrying after a pause."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class HelpdeskUnusable(TransientError):
    """So many tickets in a row failed transiently that the helpdesk itself looks unusable."""


class RateLimited(TransientError):
    """The helpdesk said 429."""


class AuthError(HelpdeskError):
    """Credentials refused or the account is not allowed: stop this connector."""


class ConflictError(HelpdeskError):
    """The ticket changed since it was read (safe_update 409): re-read and re-evaluate."""


class SkippableError(HelpdeskError):
    """One ticket cannot be read or written; record it and keep moving."""


class PaginationStalled(HelpdeskError):
    """A cursor or page did not advance: continuing would loop forever."""


class StateError(EscSyncError):
    """The state store cannot be used as asked."""


class StateUnavailable(StateError):
    """The database could not be reached or the connection was lost."""


class SchemaTooNew(StateError):
    """The state schema is newer than this esc-sync knows."""


class LeaseLost(StateError):
    """This worker no longer holds the connector's lease: its writes are refused (fenced)."""

    def __init__(self, connector: str) -> None:
        self.connector = connector
        super().__init__(
            f"connector {connector!r}: this worker no longer holds its lease "
            "(another worker took it over); nothing was recorded"
        )
