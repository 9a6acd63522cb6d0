"""The policy files' shape (RULES.md "Policy"), as pydantic models.

These models check structure and simple values; meaning (known fields, operators valid for a
field's type, references between tiers, rules, playbooks and templates) is checked by the loader
and the compiler, which know the whole policy. The same models produce the JSON Schema that
`esc-sync rules schema` prints for editor completion, so they follow RULES.md to the letter.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_library
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from esc_sync.durations import parse_duration

OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "matches",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "older_than",
    "newer_than",
)
GROUP_KEYS = ("all", "any", "none")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

Duration = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", "examples": ["4h", "1d4h"]}
    ),
]
# Values of a test are checked against the field's type by the compiler, which gives better
# messages than a union error; the schema still tells editors what is accepted.
_SCALAR_SCHEMA: dict[str, Any] = {"type": ["string", "number", "boolean"]}
Scalar = Annotated[Any, WithJsonSchema(_SCALAR_SCHEMA)]
ScalarList = Annotated[Any, WithJsonSchema({"type": "array", "items": _SCALAR_SCHEMA})]
Comparable = Annotated[Any, WithJsonSchema({"type": ["string", "number"]})]


def check_duration(value: str) -> str:
    """Validate a duration string, keeping the text as written."""
    parse_duration(value)
    return value


class _Model(BaseModel):
    """Base of every policy model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Hours(_Model):
    """Opening hours per weekday, "HH:MM-HH:MM"; a missing day is closed."""

    mon: str | None = None
    tue: str | None = None
    wed: str | None = None
    thu: str | None = None
    fri: str | None = None
    sat: str | None = None
    sun: str | None = None

    @field_validator(*DAYS)
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        """Check one day's span is "HH:MM-HH:MM" with the start before the end."""
        if value is None:
            return value
        match = _HOURS.match(value.strip())
        if match is None:
            raise ValueError(f'invalid hours {value!r}: write "HH:MM-HH:MM", e.g. "09:00-17:00"')
        start, end = value.strip().split("-")
        if start >= end:
            raise ValueError(f"invalid hours {value!r}: the start must be before the end")
        return value.strip()


class Holidays(_Model):
    """Public holidays from the holiday library, plus extra days and exceptions."""

    country: str
    subdiv: str | None = None
    extra: list[date] = Field(default_factory=list)
    except_: list[date] = Field(default_factory=list, alias="except")

    @model_validator(mode="after")
    def _known_country(self) -> Holidays:
        """Check the country (and subdivision) is one the holiday library knows."""
        supported = holiday_library.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"unknown holiday country {self.country!r} (use an ISO code: US, GB)")
        if self.subdiv is not None and self.subdiv not in supported[self.country]:
            raise ValueError(f"unknown subdivision {self.subdiv!r} of {self.country}")
        return self


class Calendar(_Model):
    """A business calendar: timezone, weekly hours, public holidays."""

    timezone: str
    hours: Hours
    holidays: Holidays | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        """Check the timezone is an IANA name."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown timezone {value!r} (use an IANA name: "Europe/Paris")'
            ) from None
        return value


class Target(_Model):
    """Response and resolution targets that refine a tier's defaults (either may be left out)."""

    respond_within: Duration | None = None
    resolve_within: Duration | None = None

    @field_validator("respond_within", "resolve_within")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        """Check each target is a duration."""
        return value if value is None else check_duration(value)


class Tier(_Model):
    """One rung of the ladder, with its deadlines."""

    id: str = Field(pattern=_SLUG)
    name: str
    respond_within: Duration
    resolve_within: Duration
    calendar: str | None = None
    playbook: str | None = None
    pause_on: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)  # channels told of events in this tier
    # by the ticket's priority (low, normal, high, urgent): refines the defaults above
    targets: dict[str, Target] = Field(default_factory=dict)

    _durations = field_validator("respond_within", "resolve_within")(check_duration)


class Ladder(_Model):
    """How missed deadlines move a ticket up."""

    on_missed_response: Literal["next", "stay"] = "next"
    on_missed_resolution: Literal["next", "stay"] = "next"
    remind_before: list[Duration] = Field(default_factory=list)
    top: str | None = None

    @field_validator("remind_before")
    @classmethod
    def _durations(cls, values: list[str]) -> list[str]:
        """Check every reminder offset is a duration."""
        for value in values:
            parse_duration(value)
        return values


class Condition(_Model):
    """A test `{ field, <op> = value }` or a group `{ all | any | none = [...] }`."""

    field: str | None = None
    eq: Scalar = None
    ne: Scalar = None
    in_: ScalarList = Field(default=None, alias="in")
    not_in: ScalarList = None
    contains: Scalar = None
    matches: str | None = None
    gt: Comparable = None
    gte: Comparable = None
    lt: Comparable = None
    lte: Comparable = None
    exists: StrictBool | None = None
    older_than: Duration | None = None
    newer_than: Duration | None = None
    business: StrictBool | None = None
    calendar: StrictBool | None = None
    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    none_: list[Condition] | None = Field(default=None, alias="none")

    _durations = field_validator("older_than", "newer_than")(check_duration)

    def operators(self) -> list[str]:
        """The operators written on this test (admin spelling: "in", not "in_")."""
        return [op for op in OPERATORS if getattr(self, _attr(op)) is not None]

    def groups(self) -> list[tuple[str, list[Condition]]]:
        """The groups written on this condition, as (kind, children)."""
        found = ((kind, getattr(self, _attr(kind))) for kind in GROUP_KEYS)
        return [(kind, children) for kind, children in found if children is not None]

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        """Check the condition is exactly one test or exactly one group."""
        ops, groups = self.operators(), [kind for kind, _ in self.groups()]
        if groups and (self.field is not None or ops):
            raise ValueError("a condition is either a test (field + operator) or a group, not both")
        if len(groups) > 1:
            raise ValueError(f"a group has one of all/any/none, found {_quoted(groups)}")
        if groups:
            if self.business is not None or self.calendar is not None:
                raise ValueError(
                    '"business" and "calendar" belong on an older_than/newer_than test'
                )
            return self
        if self.field is None:
            if ops:
                raise ValueError(f'a test needs a "field" to apply {_quoted(ops)} to')
            raise ValueError(
                "empty condition: write a test { field = ..., <op> = ... } "
                "or a group { any = [...] }"
            )
        if not ops:
            raise ValueError(f"a test needs one operator ({', '.join(OPERATORS)}), found none")
        if len(ops) > 1:
            raise ValueError(f"a test has exactly one operator, found {len(ops)}: {_quoted(ops)}")
        return self


class When(_Model):
    """The conditions of a rule: every `all`, at least one `any`, no `none`."""

    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    none_: list[Condition] | None = Field(default=None, alias="none")

    def sections(self) -> list[tuple[str, list[Condition]]]:
        """The sections written, as (kind, conditions)."""
        found = ((kind, getattr(self, _attr(kind))) for kind in GROUP_KEYS)
        return [(kind, items) for kind, items in found if items is not None]


class Surge(_Model):
    """Fire for every matching ticket once `at_least` of them were created `within` a window."""

    at_least: int = Field(ge=2)
    within: Duration

    _durations = field_validator("within")(check_duration)


class Then(_Model):
    """What a matched rule asks for."""

    escalate_to: str | None = None
    priority: str | None = None
    tags: list[str] = Field(default_factory=list)
    note: str | None = None
    notify_customer: str | None = None
    playbook: str | None = None
    status: str | None = None
    notify: list[str] = Field(default_factory=list)  # channels told when this rule fires


class Channel(_Model):
    """A notification channel: its Apprise URL lives in the environment variable `url_env`."""

    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    template: str = "notify"
    repeat_every: Duration | None = None
    repeat_max: int = Field(default=0, ge=0, le=100)

    @field_validator("repeat_every")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        """Check the repeat interval is a duration."""
        return value if value is None else check_duration(value)

    @model_validator(mode="after")
    def _repeats(self) -> Channel:
        """Repeats need both an interval and a count."""
        if self.repeat_max and self.repeat_every is None:
            raise ValueError('"repeat_max" needs "repeat_every" (how long between repeats)')
        return self


class SlaProfile(_Model):
    """Targets sold to some customers: chosen per ticket by `when` (first match wins), with
    per-tier targets and optionally its own calendar."""

    id: str = Field(pattern=_SLUG)
    name: str | None = None
    when: When = Field(default_factory=When)
    calendar: str | None = None
    targets: dict[str, Target] = Field(default_factory=dict)  # by tier id


class Rule(_Model):
    """An escalation rule."""

    id: str = Field(pattern=_SLUG)
    name: str
    description: str | None = None
    enabled: StrictBool = True
    when: When = Field(default_factory=When)
    surge: Surge | None = None
    then: Then = Field(default_factory=Then)


class Step(_Model):
    """One playbook step: a follow-up task due some time after its anchor."""

    title: str
    due: Duration
    after: Literal["escalated", "resolved", "previous"] = "previous"

    _durations = field_validator("due")(check_duration)


class Playbook(_Model):
    """Follow-up tasks created on entering a tier or by a rule."""

    steps: list[Step] = Field(min_length=1)


class PolicyFile(_Model):
    """One policy file; a folder's files are merged into one policy."""

    calendars: dict[str, Calendar] = Field(default_factory=dict)
    tiers: list[Tier] = Field(default_factory=list)
    ladder: Ladder | None = None
    rules: list[Rule] = Field(default_factory=list)
    playbooks: dict[str, Playbook] = Field(default_factory=dict)
    channels: dict[str, Channel] = Field(default_factory=dict)
    sla_profiles: list[SlaProfile] = Field(default_factory=list)


def _attr(key: str) -> str:
    """The Python attribute name of an admin key that is a Python keyword or builtin."""
    return key + "_" if key in ("in", "all", "any", "none") else key


def _quoted(names: list[str]) -> str:
    """Names as `"a", "b"`."""
    return ", ".join(f'"{name}"' for name in names)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one policy file, for editor completion."""
    return PolicyFile.model_json_schema(by_alias=True)


Condition.model_rebuild()
