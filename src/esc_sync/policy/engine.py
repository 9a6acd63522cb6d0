"""The policy as the worker uses it: evaluate a ticket into one `Decision`.

Pure: no I/O, no clock (`now` is an argument), no vendor knowledge. Several matched rules
combine into one decision (RULES.md "Combining matches"): the highest tier, the union of tags,
the highest priority, never lower than what the ticket already has.
"""

from __future__ import annotations

import copy
import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from esc_sync.durations import parse_duration
from esc_sync.errors import PolicyError
from esc_sync.model import Deadlines, Decision, Evidence, Match, TaskSpec, Ticket, priority_rank
from esc_sync.policy import schema
from esc_sync.policy.compile import CompiledRule, Group, Node, Test, condition_keys
from esc_sync.policy.fused import Evidencer, Matcher, fuse_all, fuse_by_status, fuse_evidence, reads
from esc_sync.policy.sla import CompiledProfile
from esc_sync.policy.targets import Targets
from esc_sync.policy.templates import SUFFIX, Templates

DEFAULT_NOTE = "briefing"
# What a decision projects onto the ticket (see `_projected`): a rule reading none of these
# cannot change its result between two passes of one evaluation.
PROJECTED = ("tags", "priority", "status", "tier")


@dataclass(frozen=True)
class EvalContext:
    """What the worker knows beyond the ticket: rules fired this episode, surge counts."""

    fired: frozenset[str] = frozenset()
    # surge rule id -> sorted created_at of every ticket matching that rule's conditions
    # (the evaluated ticket included)
    surge_times: Mapping[str, Sequence[datetime]] = field(default_factory=dict)


NO_CONTEXT = EvalContext()


class Policy(Targets):
    """A loaded, validated policy: tiers in order, ladder, playbooks, calendars, compiled rules.

    Deadlines, reminders and playbook due times come from `Targets`; this adds evaluation."""

    def __init__(
        self,
        *,
        tiers: list[schema.Tier],
        ladder: schema.Ladder,
        playbooks: dict[str, schema.Playbook],
        calendars: dict[str, schema.Calendar],
        rules: list[CompiledRule],
        sources: list[Path],
        template_dir: Path,
        channels: dict[str, schema.Channel] | None = None,
        warnings: list[str] | None = None,
        profiles: list[CompiledProfile] | None = None,
    ) -> None:
        """Assemble a policy; use `load_policy` to build one from files."""
        super().__init__(tiers=tiers, playbooks=playbooks, calendars=calendars, profiles=profiles)
        self.ladder = ladder
        self.channels = dict(channels or {})
        self.warnings = list(warnings or [])  # `rules check` shows them; they stop nothing
        self.rules = rules
        self.sources = sources
        self.template_dir = template_dir
        self.templates = Templates(template_dir)
        # Compiled once: each enabled rule's condition as one boolean predicate, used when a
        # ticket has no unknown fields (then Kleene logic is plain logic).
        # Surge rules also need a surge context; without one they cannot match.
        enabled = [rule for rule in rules if rule.enabled]
        plain = [rule for rule in enabled if rule.surge is None]
        self._fused = _FusedSet(enabled, "with_surges")
        self._fused_plain = _FusedSet(plain, "plain")
        self._effects_cache: dict[tuple[Any, ...], _Effects] = {}
        self._fields_read: dict[str, frozenset[str]] = {}

    def rule(self, rule_id: str) -> CompiledRule:
        """The compiled rule with this id; KeyError when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"unknown rule {rule_id!r}")

    def evaluate(self, ticket: Ticket, now: datetime, ctx: EvalContext = NO_CONTEXT) -> Decision:
        """Every rule on one ticket at `now`, combined into one decision."""
        if ticket.unknown:
            return self._evaluate_kleene(ticket, now, ctx)
        # No unknown field: plain logic, so the compiled matcher picks the rules that hold
        # (surge rules only with a surge context: without one they cannot match).
        fused = self._fused if ctx.surge_times else self._fused_plain
        status = ticket.status
        match = fused.by_status.get(status) if type(status) is str else None
        hits = (match or fused.general)(ticket, now)
        decision = _new_decision(ticket.id, now, ticket.tier)
        if not hits:
            return decision
        candidates = fused.rules
        new: list[CompiledRule] = []
        taken: set[int] = set()
        seen = ticket
        # A decision must be stable: what it writes (tags, priority, tier) can make more rules
        # match, and those belong in the same write rather than a second note next cycle.
        # Each pass after the first looks only at the rules reading a field the last
        # projection changed: every other rule has the same (already handled) result.
        while True:
            found = False
            for i in hits:
                rule = candidates[i]
                if i in taken or rule.id in decision.already_fired:
                    continue
                evidence = self._fused_match(fused, i, rule, seen, now, ctx)
                if evidence is None:
                    continue
                if rule.id in ctx.fired:
                    decision.already_fired.append(rule.id)
                    continue
                found = True
                new.append(rule)
                taken.add(i)
                decision.matches.append(Match(rule.id, rule.name, rule.then.escalate_to, evidence))
            if not found:
                break
            self._combine_into(decision, new, ticket, now)
            projected = _projected(ticket, decision)
            changed = (
                (projected.tags != seen.tags)
                | (projected.priority != seen.priority) << 1
                | (projected.status != seen.status) << 2
                | (projected.tier != seen.tier) << 3
            )
            seen = projected
            if not changed:
                break
            hits = fused.rematch(changed, seen, now)
            if not hits:
                break
        return decision

    def _evaluate_kleene(self, ticket: Ticket, now: datetime, ctx: EvalContext) -> Decision:
        """`evaluate` for a ticket with unknown fields: every rule, three-valued."""
        decision = Decision(ticket_id=ticket.id, now=now, current_tier=ticket.tier)
        new: list[CompiledRule] = []
        seen = ticket
        for _ in range(len(self.rules) + 1):
            found = False
            for rule in self.rules:
                if rule in new or rule.id in decision.already_fired:
                    continue
                evidence = self._match(rule, seen, now, ctx)
                if evidence is None:
                    continue
                if rule.id in ctx.fired:
                    decision.already_fired.append(rule.id)
                    continue
                found = True
                new.append(rule)
                decision.matches.append(Match(rule.id, rule.name, rule.then.escalate_to, evidence))
            if not found:
                break
            decision = self._combine(decision, new, ticket, now)
            seen = _projected(ticket, decision)
        return decision

    def needs_comments(self, ticket: Ticket, now: datetime, ctx: EvalContext = NO_CONTEXT) -> bool:
        """True when some enabled rule not yet fired cannot be decided without unknown fields
        that reading the comments can fill in (fields the connector cannot supply never can)."""
        loadable = ticket.unknown - ticket.unsupplied.keys() if ticket.unsupplied else None
        return any(
            rule.enabled
            and rule.id not in ctx.fired
            and rule.condition.test(ticket, now) is None
            and (loadable is None or not loadable.isdisjoint(self.fields_read(rule)))
            for rule in self.rules
        )

    def fields_read(self, rule: CompiledRule) -> frozenset[str]:
        """The field names a rule's condition reads (parents included: `requester`)."""
        found = self._fields_read.get(rule.id)
        if found is None:
            found = self._fields_read[rule.id] = condition_keys(rule.condition)
        return found

    def fields_used(self) -> frozenset[str]:
        """Every field an enabled rule reads (exact names, as rules spell them)."""
        enabled = (rule.condition for rule in self.rules if rule.enabled)
        return frozenset[str]().union(*(condition_keys(c, parents=False) for c in enabled))

    def next_time_change(
        self, ticket: Ticket, now: datetime, fired: frozenset[str] = frozenset()
    ) -> datetime | None:
        """The next instant an `older_than` / `newer_than` test flips for this ticket."""
        instants = [
            at
            for rule in self.rules
            if rule.enabled and rule.id not in fired
            for at in _flips(rule.condition, ticket)
            if at > now
        ]
        return min(instants, default=None)

    def surge_candidates(self, ticket: Ticket, now: datetime) -> list[str]:
        """Surge rules whose conditions hold on this ticket (the surge count aside)."""
        return [
            rule.id
            for rule in self.rules
            if rule.enabled and rule.surge is not None and rule.condition.test(ticket, now) is True
        ]

    def surge_windows(self) -> dict[str, timedelta]:
        """Enabled surge rules and their window lengths."""
        return {r.id: r.surge.within for r in self.rules if r.enabled and r.surge is not None}

    def surge_threshold(self, rule_id: str) -> int:
        """How many matching tickets a surge rule needs in one window; KeyError if not a surge."""
        surge = self.rule(rule_id).surge
        if surge is None:
            raise KeyError(f"rule {rule_id!r} has no surge")
        return surge.at_least

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """Render a template ("briefing" -> templates/briefing.md.j2) in the sandbox."""
        if template.removesuffix(SUFFIX) not in self.templates.names():
            raise PolicyError(
                f"{self.template_dir / (template.removesuffix(SUFFIX) + SUFFIX)}: no such template"
            )
        return self.templates.render(template, dict(context))

    def _match(
        self, rule: CompiledRule, ticket: Ticket, now: datetime, ctx: EvalContext
    ) -> tuple[Evidence, ...] | None:
        """The evidence when the rule matches (unknown counts as not matched), else None."""
        if not rule.enabled:
            return None
        if rule.condition.test(ticket, now) is not True:
            return None
        found: list[Evidence] = []
        if rule.surge is not None:
            surge = _surge_evidence(rule, ticket, ctx)
            if surge is None:
                return None
            found.append(surge)
        rule.condition.evidence(ticket, now, found)
        found.sort(key=lambda e: e.field == "surge")  # the conditions first, the count last
        return tuple(found)

    def _fused_match(
        self,
        fused: _FusedSet,
        index: int,
        rule: CompiledRule,
        ticket: Ticket,
        now: datetime,
        ctx: EvalContext,
    ) -> tuple[Evidence, ...] | None:
        """`_match` for a rule the compiled matcher found true on a ticket without unknowns:
        the same evidence, from the rule's compiled evidence function."""
        found: list[Evidence] = []
        if rule.surge is not None:
            surge = _surge_evidence(rule, ticket, ctx)
            if surge is None:
                return None
            fused.evidence[index](ticket, now, found)
            found.append(surge)
            return tuple(found)
        fused.evidence[index](ticket, now, found)
        return tuple(found)

    def _combine(
        self, found: Decision, new: list[CompiledRule], ticket: Ticket, now: datetime
    ) -> Decision:
        """A decision whose effects come from the newly matched rules."""
        decision = Decision(
            ticket_id=found.ticket_id,
            now=found.now,
            matches=found.matches,
            already_fired=found.already_fired,
            current_tier=found.current_tier,
        )
        self._combine_into(decision, new, ticket, now)
        return decision

    def _combine_into(
        self, decision: Decision, new: list[CompiledRule], ticket: Ticket, now: datetime
    ) -> None:
        """Set a decision's effects from the newly matched rules (all of them, afresh).

        The effects depend only on the rules, the ticket's tier and priority, and `now`
        (shared by every ticket of a cycle), so they are computed once per such combination.
        """
        profile = self.profile_for(ticket, now)  # the SLA profile picks the deadlines' targets
        key = (tuple(map(id, new)), ticket.tier, ticket.priority, now, profile)
        effects = self._effects_cache.get(key)
        if effects is None:
            if len(self._effects_cache) > 1024:
                self._effects_cache.clear()
            effects = self._effects_cache[key] = self._effects(new, ticket, now, profile)
        decision.target_tier = effects.target_tier
        decision.tags = list(effects.tags)
        decision.priority = effects.priority
        decision.status = effects.status
        decision.note_template = effects.note_template
        decision.customer_template = effects.customer_template
        decision.playbooks = list(effects.playbooks)
        decision.deadlines = effects.deadlines
        decision.tasks = list(effects.tasks)

    def _effects(
        self, new: list[CompiledRule], ticket: Ticket, now: datetime, profile: str | None
    ) -> _Effects:
        """What the matched rules make of a ticket at its tier and priority (see `_combine`)."""
        effects = _Effects()
        current = self.tier_rank(ticket.tier)
        by_tier = sorted(new, key=lambda r: -self.tier_rank(r.then.escalate_to))
        top = by_tier[0].then.escalate_to
        if self.tier_rank(top) > current:
            effects.target_tier = top
        effects.tags = tuple(dict.fromkeys(tag for rule in new for tag in rule.then.tags))
        wanted = max(
            (r.then.priority for r in new if r.then.priority), key=priority_rank, default=None
        )
        if priority_rank(wanted) > priority_rank(ticket.priority):
            effects.priority = wanted
        effects.status = next((r.then.status for r in by_tier if r.then.status), None)
        effects.note_template = next((r.then.note for r in by_tier if r.then.note), DEFAULT_NOTE)
        movers = [
            r
            for r in new
            if r.then.escalate_to is None or self.tier_rank(r.then.escalate_to) > current
        ]
        effects.customer_template = next(
            (r.then.notify_customer for r in movers if r.then.notify_customer), None
        )
        if effects.target_tier is None:
            return effects
        tier = self.tier(effects.target_tier)
        playbooks = [tier.playbook, *(r.then.playbook for r in movers)]
        effects.playbooks = tuple(dict.fromkeys(p for p in playbooks if p))
        priority = effects.priority or ticket.priority  # a raise by the escalation counts
        effects.deadlines = self.deadlines(tier.id, now, profile, priority)
        effects.tasks = tuple(self.escalation_tasks(effects.playbooks, now, tier.id))
        return effects


@dataclass(slots=True)
class _Effects:
    """The combined effects of some matched rules (copied into each decision)."""

    target_tier: str | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None
    status: str | None = None
    note_template: str | None = None
    customer_template: str | None = None
    playbooks: tuple[str, ...] = ()
    deadlines: Deadlines | None = None
    tasks: tuple[TaskSpec, ...] = ()


def _flips(node: Node, ticket: Ticket) -> list[datetime]:
    """Instants at which the time tests under a condition change their result."""
    if isinstance(node, Group):
        return [at for child in node.children for at in _flips(child, ticket)]
    if isinstance(node, Test) and node.op in ("older_than", "newer_than"):
        value = node.get(ticket)
        if isinstance(value, datetime):
            if node.clock is not None:
                return [node.clock.add(value, node.clock.span(str(node.expected)))]
            return [value + parse_duration(str(node.expected))]
    return []


class _FusedSet:
    """Rules compiled for tickets without unknown fields: one matcher over all of them, an
    evidence function per rule, and matchers over the rules reading given fields (built when
    first needed) for the passes after a projection."""

    def __init__(self, rules: list[CompiledRule], label: str) -> None:
        self.rules = rules
        self.label = label
        self.by_status, self.general = fuse_by_status([rule.condition for rule in rules], label)
        self.evidence: list[Evidencer] = [fuse_evidence(r.condition, r.id) for r in rules]
        self.reads = [reads(rule.condition) for rule in rules]
        self._subsets: dict[int, tuple[list[int], Matcher | None]] = {}

    def rematch(self, changed: int, ticket: Ticket, now: datetime) -> list[int]:
        """Positions of the rules reading a changed field that are true on the ticket.

        `changed`: a bit per name of `PROJECTED` whose value the last projection changed.
        """
        subset = self._subsets.get(changed)
        if subset is None:
            names = {name for bit, name in enumerate(PROJECTED) if changed >> bit & 1}
            positions = [i for i, read in enumerate(self.reads) if "*" in read or read & names]
            label = f"{self.label}_after_{'_'.join(sorted(names))}"
            nodes = [self.rules[i].condition for i in positions]
            matcher = fuse_all(nodes, label) if positions else None
            subset = self._subsets[changed] = (positions, matcher)
        positions, matcher = subset
        if matcher is None:
            return []
        return [positions[i] for i in matcher(ticket, now)]


def _slot_copier() -> Callable[[Ticket], Ticket]:
    """A shallow copy of a `Ticket` (a slots dataclass without `__post_init__`): straight-line
    attribute copies, about ten times faster than `copy.copy`."""
    names = [f.name for f in dataclasses.fields(Ticket)]
    if "__dict__" in dir(Ticket) or set(names) != set(getattr(Ticket, "__slots__", ())):
        return copy.copy
    lines = ["def _copy(t):", "    n = _new(_Ticket)"]
    lines += [f"    n.{name} = t.{name}" for name in names]
    lines.append("    return n")
    namespace: dict[str, Any] = {"_new": object.__new__, "_Ticket": Ticket}
    exec("\n".join(lines), namespace)
    copier: Callable[[Ticket], Ticket] = namespace["_copy"]
    return copier


_copy_ticket = _slot_copier()


def _decision_maker() -> Callable[[int, datetime, str | None], Decision]:
    """`Decision(ticket_id=..., now=..., current_tier=...)` as straight-line code (a slots
    dataclass without `__post_init__`: the same object, without the generic `__init__`'s
    default-factory checks); `Decision` itself when its shape does not allow that."""
    given = ("ticket_id", "now", "current_tier")
    fields = dataclasses.fields(Decision)
    names = [f.name for f in fields]
    plain = (
        "__dict__" not in dir(Decision)
        and set(names) == set(getattr(Decision, "__slots__", ()))
        and not hasattr(Decision, "__post_init__")
        and all(
            f.name in given or f.default_factory is list or f.default is not dataclasses.MISSING
            for f in fields
        )
    )
    if not plain:
        return lambda ticket_id, now, tier: Decision(
            ticket_id=ticket_id, now=now, current_tier=tier
        )
    namespace: dict[str, Any] = {"_new": object.__new__, "_Decision": Decision}
    lines = ["def _decision(ticket_id, now, current_tier):", "    d = _new(_Decision)"]
    for f in fields:
        if f.name in given:
            lines.append(f"    d.{f.name} = {f.name}")
        elif f.default_factory is list:
            lines.append(f"    d.{f.name} = []")
        else:
            namespace[f"_default_{f.name}"] = f.default
            lines.append(f"    d.{f.name} = _default_{f.name}")
    lines.append("    return d")
    exec("\n".join(lines), namespace)
    maker: Callable[[int, datetime, str | None], Decision] = namespace["_decision"]
    return maker


_new_decision = _decision_maker()


def _projected(ticket: Ticket, decision: Decision) -> Ticket:
    """The ticket as it will be once the decision is written (a shallow copy: `Ticket` has
    no `__post_init__`, so this equals `dataclasses.replace` at a fraction of its cost)."""
    projected = _copy_ticket(ticket)
    projected.tags = tuple(dict.fromkeys((*ticket.tags, *decision.tags)))
    projected.priority = decision.priority or ticket.priority
    projected.status = decision.status or ticket.status
    projected.tier = decision.target_tier or ticket.tier
    return projected


def surge_count(times: Sequence[datetime], at: datetime, within: timedelta) -> int:
    """The most times in one window of length `within` that contains `at`."""
    ordered = sorted(times)
    starts = [at - within, *ordered[bisect_left(ordered, at - within) : bisect_right(ordered, at)]]
    best = 0
    for start in starts:
        best = max(best, bisect_right(ordered, start + within) - bisect_left(ordered, start))
    return best


def _surge_evidence(rule: CompiledRule, ticket: Ticket, ctx: EvalContext) -> Evidence | None:
    """The surge count as evidence when it reaches the rule's threshold, else None."""
    assert rule.surge is not None
    if ticket.created_at is None:
        return None
    times = ctx.surge_times.get(rule.id, ())
    count = surge_count(times, ticket.created_at, rule.surge.within)
    if count < rule.surge.at_least:
        return None
    return Evidence("surge", "at_least", rule.surge.at_least, count)
