"""Load a policy file or folder, validate everything, and report every problem at once.

Each problem is one line naming the file, the item (rule, tier, playbook or calendar id) and the
field path, with a suggestion when a name is close to a known one, e.g. `rules/triggers.toml:
rule "vip-urgent": when.all[1].field: unknown field "prioity" (did you mean "priority"?)`.
"""

from __future__ import annotations

import tomllib
import types
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from esc_sync.errors import PolicyError
from esc_sync.model import PRIORITIES, STATUSES
from esc_sync.policy import schema
from esc_sync.policy.calendar import BusinessCalendar, NeverOpen
from esc_sync.policy.channels import channel_problems, channels_used
from esc_sync.policy.checks import check_steps, check_tier_targets, compile_profiles
from esc_sync.policy.compile import CompiledRule, Compiler, suggest
from esc_sync.policy.engine import Policy
from esc_sync.policy.templates import SUFFIX, Templates

M = TypeVar("M", bound=BaseModel)
TOP_LEVEL = tuple(schema.PolicyFile.model_fields)
# Words admins reach for, mapped to our operators.
OPERATOR_SYNONYMS = {
    "equals": "eq",
    "is": "eq",
    "not": "ne",
    "regex": "matches",
    "includes": "contains",
    "has": "contains",
    "before": "lt",
    "after": "gt",
}


@dataclass
class _Collected:
    """Every item read from the files, with the file it came from, and every problem."""

    problems: list[tuple[str, str, str]] = field(default_factory=list)  # file, item, line
    calendars: dict[str, tuple[schema.Calendar, str]] = field(default_factory=dict)
    tiers: dict[str, tuple[schema.Tier, str]] = field(default_factory=dict)
    rules: dict[str, tuple[schema.Rule, str]] = field(default_factory=dict)
    playbooks: dict[str, tuple[schema.Playbook, str]] = field(default_factory=dict)
    channels: dict[str, tuple[schema.Channel, str]] = field(default_factory=dict)
    profiles: dict[str, tuple[schema.SlaProfile, str]] = field(default_factory=dict)
    compiled_profiles: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth a look, not wrong
    ladder: tuple[schema.Ladder, str] | None = None
    sources: list[Path] = field(default_factory=list)
    seen: dict[str, dict[str, str]] = field(default_factory=dict)  # noun -> id -> first file
    broken_rules: list[tuple[Any, str, str]] = field(default_factory=list)  # raw, file, label

    def add(self, file: str, item: str | None, path: str, message: str) -> None:
        """Record one problem as "file: item: path: message"."""
        line = ": ".join(part for part in (file, item, path, message) if part)
        self.problems.append((file, item or "", line))

    def lines(self) -> list[str]:
        """The problems grouped by file, then by item, each in the order first met."""
        files: dict[str, int] = {}
        items: dict[tuple[str, str], int] = {}
        for file, item, _ in self.problems:
            files.setdefault(file, len(files))
            items.setdefault((file, item), len(items))
        ordered = sorted(self.problems, key=lambda p: (files[p[0]], items[(p[0], p[1])]))
        return [line for _, _, line in ordered]


def load_policy(path: Path, custom_fields: Collection[str] | None = None) -> Policy:
    """Load and validate a policy file or folder; raise PolicyError listing every problem.

    `custom_fields` names the `custom.<name>` fields rules may read (the connector profile's
    `[fields]`); None accepts any name.
    """
    found = _Collected()
    files, template_dir = _policy_files(Path(path), found)
    for file in files:
        data = _read_toml(file, found)
        if data is not None:
            found.sources.append(file)
            _collect(data, str(file), found)
    templates = Templates(template_dir)
    rules = _check(found, templates, custom_fields)
    for name, problem in templates.check():
        found.add(str(template_dir / name), None, "", problem)
    for key, (cal, cal_file) in found.calendars.items():
        if not any(getattr(cal.hours, day) for day in schema.DAYS):
            never = "no business hours on any day: a deadline on this calendar could never be met"
            found.add(cal_file, f'calendar "{key}"', "hours", never)
    if found.problems:
        raise PolicyError(found.lines())
    tiers = [tier for tier, _ in found.tiers.values()]
    ladder = found.ladder[0] if found.ladder else schema.Ladder()
    return Policy(
        tiers=tiers,
        ladder=ladder,
        playbooks={key: value for key, (value, _) in found.playbooks.items()},
        calendars={key: value for key, (value, _) in found.calendars.items()},
        rules=rules,
        sources=found.sources,
        template_dir=template_dir,
        channels={key: value for key, (value, _) in found.channels.items()},
        warnings=found.warnings,
        profiles=found.compiled_profiles,
    )


def _policy_files(path: Path, found: _Collected) -> tuple[list[Path], Path]:
    """The TOML files to read and the templates folder, for a file or a folder."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.toml") if p.is_file())
        if not files:
            found.add(str(path), None, "", "no *.toml policy files in this folder")
        return files, path / "templates"
    if not path.exists():
        found.add(str(path), None, "", "no such file or folder")
        return [], path.parent / "templates"
    return [path], path.parent / "templates"


def _read_toml(file: Path, found: _Collected) -> dict[str, Any] | None:
    """Parse one file; a syntax error is a problem naming the line and column."""
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        found.add(str(file), None, "", f"malformed TOML: {exc}")
    except (OSError, UnicodeDecodeError) as exc:
        found.add(str(file), None, "", f"cannot read: {exc}")
    return None


def _collect(data: dict[str, Any], file: str, found: _Collected) -> None:
    """Validate the items of one file and merge them, reporting duplicates."""
    for key in data:
        if key not in TOP_LEVEL:
            found.add(file, None, "", f'unknown key "{key}"{suggest(key, TOP_LEVEL)}')
    for item_id, raw in _table(data, "calendars", file, found):
        calendar = _validate(schema.Calendar, raw, file, f'calendar "{item_id}"', found)
        _merge(found.calendars, "calendar", item_id, calendar, file, found)
    for item_id, raw in _table(data, "playbooks", file, found):
        playbook = _validate(schema.Playbook, raw, file, f'playbook "{item_id}"', found)
        _merge(found.playbooks, "playbook", item_id, playbook, file, found)
    for item_id, raw in _table(data, "channels", file, found):
        channel = _validate(schema.Channel, raw, file, f'channel "{item_id}"', found)
        _merge(found.channels, "channel", item_id, channel, file, found)
    for label, tier_id, raw in _array(data, "tiers", "tier", file, found):
        tier = _validate(schema.Tier, raw, file, label, found)
        _merge(found.tiers, "tier", tier_id, tier, file, found)
    for label, profile_id, raw in _array(data, "sla_profiles", "sla_profile", file, found):
        profile = _validate(schema.SlaProfile, raw, file, label, found)
        _merge(found.profiles, "sla_profile", profile_id, profile, file, found)
    for label, rule_id, raw in _array(data, "rules", "rule", file, found):
        rule = _validate(schema.Rule, raw, file, label, found)
        if rule is None:
            found.broken_rules.append((raw, file, label))
        _merge(found.rules, "rule", rule_id, rule, file, found)
    if "ladder" in data:
        ladder = _validate(schema.Ladder, data["ladder"], file, "ladder", found)
        if found.ladder is not None:
            found.add(file, "ladder", "", f"a second [ladder], the first is in {found.ladder[1]}")
        elif ladder is not None:
            found.ladder = (ladder, file)


def _table(
    data: dict[str, Any], key: str, file: str, found: _Collected
) -> Iterator[tuple[str, Any]]:
    """The entries of a `[key.<id>]` table."""
    table = data.get(key, {})
    if not isinstance(table, dict):
        found.add(file, None, key, f"expected tables [{key}.<id>]")
        return
    yield from table.items()


def _array(
    data: dict[str, Any], key: str, noun: str, file: str, found: _Collected
) -> Iterator[tuple[str, str | None, Any]]:
    """The entries of a `[[key]]` array, labelled by their id (or position when it has none)."""
    items = data.get(key, [])
    if not isinstance(items, list):
        found.add(file, None, key, f"expected an array of tables [[{key}]]")
        return
    for i, raw in enumerate(items):
        item_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(item_id, str):
            yield f"{key}[{i}]", None, raw
        else:
            yield f'{noun} "{item_id}"', item_id, raw


def _merge(
    into: dict[str, Any], noun: str, item_id: str | None, item: Any, file: str, found: _Collected
) -> None:
    """Add an item (when valid), or report a duplicate id naming both files."""
    if item_id is None:
        return
    seen = found.seen.setdefault(noun, {})
    if item_id in seen:
        found.add(file, f'{noun} "{item_id}"', "", f"duplicate {noun} id, also in {seen[item_id]}")
        return
    seen[item_id] = file
    if item is not None:
        into[item_id] = (item, file)


def _validate(model: type[M], raw: Any, file: str, item: str, found: _Collected) -> M | None:
    """Validate one item, reporting each pydantic error in the admin's words."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for path, message in _explain(exc, model, raw):
            found.add(file, item, path, message)
        return None


def _explain(exc: ValidationError, model: type[BaseModel], raw: Any) -> Iterator[tuple[str, str]]:
    """Turn pydantic errors into (path, message) with suggestions."""
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            yield _path(loc[:-1]), _unknown_key(str(loc[-1]), model, loc[:-1], raw)
        elif kind == "missing":
            yield _path(loc[:-1]), f'missing required key "{loc[-1]}"'
        elif kind == "literal_error":
            allowed = [str(a) for a in get_args(_annotation_at(model, loc))]
            value = str(error["input"])
            yield (
                _path(loc),
                f'unknown value "{value}"{suggest(value, allowed)}; use: {", ".join(allowed)}',
            )
        elif kind in _TYPE_WORDS:
            yield _path(loc), f"expected {_TYPE_WORDS[kind]}, got {error['input']!r}"
        else:
            yield _path(loc), str(error["msg"]).removeprefix("Value error, ")


_TYPE_WORDS = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "model_type": "a table",
    "dict_type": "a table",
    "date_type": "a date",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
}


def _unknown_key(key: str, model: type[BaseModel], parent: tuple[Any, ...], raw: Any) -> str:
    """Explain an unknown key: an unknown operator in a test, else a key with a suggestion."""
    owner = _annotation_at(model, parent)
    parent_raw = _raw_at(raw, parent)
    if owner is schema.Condition and isinstance(parent_raw, dict) and "field" in parent_raw:
        hint = OPERATOR_SYNONYMS.get(key)
        close = f' (did you mean "{hint}"?)' if hint else suggest(key, schema.OPERATORS, 0.5)
        return f'unknown operator "{key}"{close}'
    keys = _keys(owner) if isinstance(owner, type) and issubclass(owner, BaseModel) else []
    return f'unknown key "{key}"{suggest(key, keys)}'


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys an admin may write in a model (aliases where they differ)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The type found by following an error location from a model."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {info.alias or name: info for name, info in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated from a type."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin is not None and origin is not Literal and hasattr(annotation, "__metadata__"):
        return _unwrap(get_args(annotation)[0])
    return annotation


def _raw_at(raw: Any, loc: tuple[Any, ...]) -> Any:
    """The raw value at an error location."""
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _path(loc: tuple[Any, ...]) -> str:
    """An error location as the admin writes it: when.all[1].field."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _check(
    found: _Collected, templates: Templates, custom_fields: Collection[str] | None
) -> list[CompiledRule]:
    """Check references between items and compile the rules."""
    tier_ids = _ids(found, "tier")
    for tier, file in found.tiers.values():
        item = f'tier "{tier.id}"'
        _ref(found, file, item, "calendar", tier.calendar, _ids(found, "calendar"), "calendar")
        _ref(found, file, item, "playbook", tier.playbook, _ids(found, "playbook"), "playbook")
        for i, status in enumerate(tier.pause_on):
            _ref(found, file, item, f"pause_on[{i}]", status, STATUSES, "status")
        for i, channel in enumerate(tier.notify):
            _ref(found, file, item, f"notify[{i}]", channel, _ids(found, "channel"), "channel")
        check_tier_targets(tier, file, found.add)
    if found.ladder is not None:
        _ref(found, found.ladder[1], "ladder", "top", found.ladder[0].top, tier_ids, "tier")
    for playbook_id, (playbook, file) in found.playbooks.items():
        check_steps(playbook, file, f'playbook "{playbook_id}"', found.add)
    compiler = Compiler(
        tier_ids,
        custom_fields,
        has_calendar=bool(found.calendars),
        business_clock=_default_clock(found),
    )
    found.compiled_profiles = compile_profiles(
        found.profiles.values(), tier_ids, _ids(found, "calendar"), compiler, found.add
    )
    compiled: list[CompiledRule] = []
    names = templates.names()
    for rule, file in found.rules.values():
        item = f'rule "{rule.id}"'
        compiler.problems = []
        result = compiler.rule(rule, Path(file))
        for path, message in compiler.problems:
            found.add(file, item, path, message)
        _check_then(rule.then, file, item, found, names, templates)
        if result is not None:
            compiled.append(result)
    for raw, file, item in found.broken_rules:
        _salvage(raw, file, item, found, compiler, names, templates)
    used = channels_used(found.tiers.values(), found.rules.values(), found.broken_rules)
    found.warnings, problems = channel_problems(found.channels, used, names, templates)
    for problem in problems:
        found.add(*problem)
    return compiled


def _salvage(
    raw: Any,
    file: str,
    item: str,
    found: _Collected,
    compiler: Compiler,
    names: list[str],
    templates: Templates,
) -> None:
    """Check the well-formed parts of a rule that failed validation, so nothing is hidden."""
    if not isinstance(raw, dict):
        return
    compiler.problems = []
    when = raw.get("when")
    if isinstance(when, dict):
        for kind in schema.GROUP_KEYS:
            _salvage_conditions(when.get(kind), f"when.{kind}", compiler)
    for path, message in compiler.problems:
        found.add(file, item, path, message)
    raw_then = raw.get("then", {})
    if not isinstance(raw_then, dict):
        return
    try:  # unknown keys were reported already; check what the known ones refer to
        then = schema.Then.model_validate(
            {key: value for key, value in raw_then.items() if key in schema.Then.model_fields}
        )
    except ValidationError:
        return
    _check_then(then, file, item, found, names, templates)


def _salvage_conditions(items: Any, path: str, compiler: Compiler) -> None:
    """Compile every well-formed test under a list of raw conditions (problems only)."""
    if not isinstance(items, list):
        return
    for i, raw in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(raw, dict):
            continue
        groups = [kind for kind in schema.GROUP_KEYS if kind in raw]
        if groups:
            for kind in groups:
                if raw[kind] == []:
                    compiler.problems.append((f"{where}.{kind}", "empty list: write a condition"))
                _salvage_conditions(raw[kind], f"{where}.{kind}", compiler)
            continue
        try:
            condition = schema.Condition.model_validate(raw)
        except ValidationError:
            continue
        compiler.condition(condition, where)


def _check_then(
    then: schema.Then,
    file: str,
    item: str,
    found: _Collected,
    names: list[str],
    templates: Templates,
) -> None:
    """Check the ids and values a rule's `then` refers to."""
    tier_ids = _ids(found, "tier")
    _ref(found, file, item, "then.escalate_to", then.escalate_to, tier_ids, "tier")
    _ref(found, file, item, "then.priority", then.priority, PRIORITIES, "priority")
    _ref(found, file, item, "then.status", then.status, STATUSES, "status")
    _ref(found, file, item, "then.playbook", then.playbook, _ids(found, "playbook"), "playbook")
    for i, channel in enumerate(then.notify):
        _ref(found, file, item, f"then.notify[{i}]", channel, _ids(found, "channel"), "channel")
    for key in ("note", "notify_customer"):
        name = getattr(then, key)
        if name is not None and name.removesuffix(SUFFIX) not in names:
            where = templates.folder / "*.md.j2"
            found.add(
                file,
                item,
                f"then.{key}",
                f'unknown template "{name}"{suggest(name, names)}; templates are {where}',
            )


def _ids(found: _Collected, noun: str) -> list[str]:
    """Every id defined for a noun, valid or not (so one broken tier is reported once)."""
    return list(found.seen.get(noun, {}))


def _ref(
    found: _Collected,
    file: str,
    item: str,
    path: str,
    value: str | None,
    known: Collection[str],
    noun: str,
) -> None:
    """Report a reference to an id or vocabulary value that does not exist."""
    if value is None or value in known:
        return
    choices = ", ".join(known) or "none defined"
    found.add(
        file, item, path, f'unknown {noun} "{value}"{suggest(value, list(known))}; use: {choices}'
    )


def _default_clock(found: _Collected) -> BusinessCalendar | None:
    """The calendar `business = true` counts on: the first tier's that has one, else the first."""
    names = [tier.calendar for tier, _ in found.tiers.values() if tier.calendar]
    names += list(found.calendars)
    for name in names:
        entry = found.calendars.get(name)
        if entry is not None:
            try:
                return BusinessCalendar(entry[0], name)
            except NeverOpen:
                return None  # reported as a problem of the calendar itself
    return None
