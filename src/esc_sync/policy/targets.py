"""Time targets of a policy: deadlines, reminders and playbook due times, in business time.

Pure: `now` and every instant are arguments. A tier with a calendar counts on it (business
hours, holidays); a tier without one counts calendar time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from esc_sync.durations import parse_duration
from esc_sync.model import Deadlines, TargetChoice, TaskSpec, Ticket
from esc_sync.policy import schema
from esc_sync.policy.calendar import BusinessCalendar
from esc_sync.policy.sla import CompiledProfile, choose_target, profile_for


class Targets:
    """Tiers in ladder order with their calendars and playbooks, and the arithmetic on them."""

    def __init__(
        self,
        *,
        tiers: list[schema.Tier],
        playbooks: dict[str, schema.Playbook],
        calendars: dict[str, schema.Calendar],
        profiles: list[CompiledProfile] | None = None,
    ) -> None:
        self.tiers = tiers
        self.profiles = list(profiles or [])
        self._profiles = {p.id: p.spec for p in self.profiles}
        self.playbooks = playbooks
        self.calendars = calendars
        self._ranks = {tier.id: i for i, tier in enumerate(tiers)}
        self.clocks = {key: BusinessCalendar(cal, key) for key, cal in calendars.items()}
        # Deadlines and task chains depend only on (tier, instant, playbooks): every ticket
        # escalated in one cycle shares them, so they are computed once per cycle.
        self._deadline_cache: dict[tuple[str, datetime, str | None, str | None], Deadlines] = {}
        self._task_cache: dict[tuple[tuple[str, ...], datetime, str | None], list[TaskSpec]] = {}

    def tier(self, tier_id: str) -> schema.Tier:
        """The tier with this id; KeyError when there is none."""
        if tier_id not in self._ranks:
            raise KeyError(f"unknown tier {tier_id!r}")
        return self.tiers[self._ranks[tier_id]]

    def tier_rank(self, tier_id: str | None) -> int:
        """Position of a tier in the ladder (0 = first); -1 for none or an unknown id."""
        return self._ranks.get(tier_id, -1) if tier_id is not None else -1

    def profile_for(self, ticket: Ticket, now: datetime) -> str | None:
        """The SLA profile of a ticket: the first whose conditions hold (None: no profile)."""
        return profile_for(self.profiles, ticket, now) if self.profiles else None

    def target(self, tier_id: str, profile: str | None, priority: str | None) -> TargetChoice:
        """The targets of entering a tier for a profile and priority, most specific first."""
        return choose_target(self.tier(tier_id), self._profiles.get(profile or ""), priority)

    def clock_for(self, tier_id: str | None, profile: str | None = None) -> BusinessCalendar | None:
        """The business calendar a tier counts its deadlines on (None: calendar time); a
        profile's own calendar comes first."""
        spec = self._profiles.get(profile or "")
        if spec is not None and spec.calendar:
            return self.clocks.get(spec.calendar)
        if tier_id is None or tier_id not in self._ranks:
            return None
        name = self.tier(tier_id).calendar
        return self.clocks.get(name) if name else None

    def add_time(
        self, tier_id: str | None, start: datetime, duration: str, profile: str | None = None
    ) -> datetime:
        """`start` + a duration, in business time on the tier's calendar when it has one."""
        clock = self.clock_for(tier_id, profile)
        if clock is None:
            return start + parse_duration(duration)
        return clock.add(start, clock.span(duration))

    def reminder_at(
        self,
        tier_id: str,
        entered_at: datetime,
        due: datetime,
        lead: str,
        profile: str | None = None,
    ) -> datetime | None:
        """When the reminder `lead` before a deadline falls, counted as the deadline is (in
        business time on the tier's calendar); None unless that lies after the tier entry."""
        clock = self.clock_for(tier_id, profile)
        if clock is None:
            delta = parse_duration(lead)
            return due - delta if due - entered_at > delta else None
        delta = clock.span(lead)
        if clock.between(entered_at, due) <= delta:
            return None
        return clock.subtract(due, delta)

    def time_left(
        self, tier_id: str, now: datetime, due: datetime, profile: str | None = None
    ) -> timedelta:
        """Time until a deadline, counted as the deadline is (business time when it has one)."""
        clock = self.clock_for(tier_id, profile)
        if clock is None:
            return max(due - now, timedelta(0))
        return clock.between(now, due)

    def paused_for(
        self, tier_id: str, since: datetime, now: datetime, profile: str | None = None
    ) -> timedelta:
        """The time a pause from `since` to `now` stopped the clock (business time when the
        deadlines count on a calendar)."""
        clock = self.clock_for(tier_id, profile)
        return max(now - since, timedelta(0)) if clock is None else clock.between(since, now)

    def resume(
        self,
        tier_id: str,
        resolve_by: datetime,
        since: datetime,
        now: datetime,
        profile: str | None = None,
    ) -> datetime:
        """The resolution deadline pushed out by the time spent paused from `since` to `now`."""
        paused = self.paused_for(tier_id, since, now, profile)
        clock = self.clock_for(tier_id, profile)
        return resolve_by + paused if clock is None else clock.add(resolve_by, paused)

    def deadlines(
        self,
        tier_id: str,
        entered_at: datetime,
        profile: str | None = None,
        priority: str | None = None,
    ) -> Deadlines:
        """Response and resolution deadlines of entering a tier at `entered_at`, for the
        ticket's SLA profile and priority (RULES.md "Targets by priority and by customer")."""
        key = (tier_id, entered_at, profile, priority)
        found = self._deadline_cache.get(key)
        if found is None:
            if len(self._deadline_cache) > 256:
                self._deadline_cache.clear()
            found = self._deadline_cache[key] = self._deadlines(key)
        return found

    def ticket_deadlines(
        self, ticket: Ticket, tier_id: str, entered_at: datetime, priority: str | None = None
    ) -> Deadlines:
        """Deadlines of a ticket entering a tier: its profile at `entered_at`, its priority
        (or the one the escalation raises it to)."""
        profile = self.profile_for(ticket, entered_at)
        return self.deadlines(tier_id, entered_at, profile, priority or ticket.priority)

    def _deadlines(self, key: tuple[str, datetime, str | None, str | None]) -> Deadlines:
        """Deadlines computed afresh (see `deadlines`)."""
        tier_id, entered_at, profile, priority = key
        choice = self.target(tier_id, profile, priority)
        return Deadlines(
            self.add_time(tier_id, entered_at, choice.respond_within, profile),
            self.add_time(tier_id, entered_at, choice.resolve_within, profile),
            choice,
        )

    def retarget(
        self,
        tier: str,
        entered_at: datetime,
        resolve_by: datetime,
        old: tuple[str | None, str | None],
        new: tuple[str | None, str | None],
        paused_since: datetime | None,
        now: datetime,
    ) -> Deadlines:
        """An open tier entry's deadlines counted again for a new (profile, priority), from
        the same entry instant; time already spent paused is kept (measured on the old
        targets' clock, then added on the new one), a pause still running included."""
        before = self.deadlines(tier, entered_at, *old)
        paused = self.time_left(tier, before.resolve_by, resolve_by, old[0])
        if paused_since is not None:
            paused += self.paused_for(tier, paused_since, now, old[0])
        after = self.deadlines(tier, entered_at, *new)
        clock = self.clock_for(tier, new[0])
        resolve = clock.add(after.resolve_by, paused) if clock else after.resolve_by + paused
        return Deadlines(after.respond_by, resolve, after.target)

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
