"""Time targets of a policy: deadlines, reminders and playbook due times, in business time.

Pure: `now` and every instant are arguments. A tier with a calendar counts on it (business
hours, holidays); a tier without one counts calendar time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from esc_sync.durations import parse_duration
from esc_sync.model import Deadlines, TaskSpec
from esc_sync.policy import schema
from esc_sync.policy.calendar import BusinessCalendar


class Targets:
    """Tiers in ladder order with their calendars and playbooks, and the arithmetic on them."""

    def __init__(
        self,
        *,
        tiers: list[schema.Tier],
        playbooks: dict[str, schema.Playbook],
        calendars: dict[str, schema.Calendar],
    ) -> None:
        self.tiers = tiers
        self.playbooks = playbooks
        self.calendars = calendars
        self._ranks = {tier.id: i for i, tier in enumerate(tiers)}
        self.clocks = {key: BusinessCalendar(cal, key) for key, cal in calendars.items()}
        # Deadlines and task chains depend only on (tier, instant, playbooks): every ticket
        # escalated in one cycle shares them, so they are computed once per cycle.
        self._deadline_cache: dict[tuple[str, datetime], Deadlines] = {}
        self._task_cache: dict[tuple[tuple[str, ...], datetime, str | None], list[TaskSpec]] = {}

    def tier(self, tier_id: str) -> schema.Tier:
        """The tier with this id; KeyError when there is none."""
        if tier_id not in self._ranks:
            raise KeyError(f"unknown tier {tier_id!r}")
        return self.tiers[self._ranks[tier_id]]

    def tier_rank(self, tier_id: str | None) -> int:
        """Position of a tier in the ladder (0 = first); -1 for none or an unknown id."""
        return self._ranks.get(tier_id, -1) if tier_id is not None else -1

    def clock_for(self, tier_id: str | None) -> BusinessCalendar | None:
        """The business calendar a tier counts its deadlines on (None: calendar time)."""
        if tier_id is None or tier_id not in self._ranks:
            return None
        name = self.tier(tier_id).calendar
        return self.clocks.get(name) if name else None

    def add_time(self, tier_id: str | None, start: datetime, duration: str) -> datetime:
        """`start` + a duration, in business time on the tier's calendar when it has one."""
        clock = self.clock_for(tier_id)
        if clock is None:
            return start + parse_duration(duration)
        return clock.add(start, clock.span(duration))

    def reminder_at(
        self, tier_id: str, entered_at: datetime, due: datetime, lead: str
    ) -> datetime | None:
        """When the reminder `lead` before a deadline falls, counted as the deadline is (in
        business time on the tier's calendar); None unless that lies after the tier entry."""
        clock = self.clock_for(tier_id)
        if clock is None:
            delta = parse_duration(lead)
            return due - delta if due - entered_at > delta else None
        delta = clock.span(lead)
        if clock.between(entered_at, due) <= delta:
            return None
        return clock.subtract(due, delta)

    def time_left(self, tier_id: str, now: datetime, due: datetime) -> timedelta:
        """Time until a deadline, counted as the deadline is (business time when it has one)."""
        clock = self.clock_for(tier_id)
        if clock is None:
            return max(due - now, timedelta(0))
        return clock.between(now, due)

    def deadlines(self, tier_id: str, entered_at: datetime) -> Deadlines:
        """Response and resolution deadlines of entering a tier at `entered_at`."""
        key = (tier_id, entered_at)
        found = self._deadline_cache.get(key)
        if found is None:
            if len(self._deadline_cache) > 256:
                self._deadline_cache.clear()
            found = self._deadline_cache[key] = self._deadlines(tier_id, entered_at)
        return found

    def _deadlines(self, tier_id: str, entered_at: datetime) -> Deadlines:
        """Deadlines computed afresh (see `deadlines`)."""
        tier = self.tier(tier_id)
        return Deadlines(
            self.add_time(tier_id, entered_at, tier.respond_within),
            self.add_time(tier_id, entered_at, tier.resolve_within),
        )

    def escalation_tasks(
        self, playbooks: Sequence[str], escalated_at: datetime, tier_id: str | None = None
    ) -> list[TaskSpec]:
        """Steps before the first `after = "resolved"` one, chained from the escalation in
        business time on the tier's calendar."""
        key = (tuple(playbooks), escalated_at, tier_id)
        found = self._task_cache.get(key)
        if found is None:
            if len(self._task_cache) > 256:
                self._task_cache.clear()
            found = self._task_cache[key] = self._escalation_tasks(playbooks, escalated_at, tier_id)
        return list(found)

    def _escalation_tasks(
        self, playbooks: Sequence[str], escalated_at: datetime, tier_id: str | None
    ) -> list[TaskSpec]:
        """Escalation task specs computed afresh (see `escalation_tasks`)."""
        tasks: list[TaskSpec] = []
        for playbook_id in playbooks:
            steps = self._steps(playbook_id)
            cut = _first_resolved(steps)
            numbered = list(enumerate(steps[:cut], 1))
            tasks += self._chain(playbook_id, numbered, escalated_at, tier_id)
        return tasks

    def resolved_tasks(
        self, playbooks: Sequence[str], resolved_at: datetime, tier_id: str | None = None
    ) -> list[TaskSpec]:
        """Steps from the first `after = "resolved"` one on, chained from resolution."""
        tasks: list[TaskSpec] = []
        for playbook_id in playbooks:
            steps = self._steps(playbook_id)
            cut = _first_resolved(steps)
            numbered = list(enumerate(steps, 1))[cut:]
            tasks += self._chain(playbook_id, numbered, resolved_at, tier_id)
        return tasks

    def _chain(
        self,
        playbook_id: str,
        numbered: list[tuple[int, schema.Step]],
        anchor: datetime,
        tier_id: str | None,
    ) -> list[TaskSpec]:
        """Task specs whose due times follow each other from the anchor."""
        tasks: list[TaskSpec] = []
        previous = anchor
        for number, step in numbered:
            base = previous if step.after == "previous" else anchor
            previous = self.add_time(tier_id, base, step.due)
            tasks.append(TaskSpec(playbook_id, number, step.title, step.after, previous))
        return tasks

    def _steps(self, playbook_id: str) -> list[schema.Step]:
        """A playbook's steps; none for an id the policy no longer has."""
        playbook = self.playbooks.get(playbook_id)
        return list(playbook.steps) if playbook is not None else []


def _first_resolved(steps: Sequence[schema.Step]) -> int:
    """Index of the first step anchored on resolution (len(steps) when there is none)."""
    return next((i for i, step in enumerate(steps) if step.after == "resolved"), len(steps))
