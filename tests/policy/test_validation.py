"""A broken policy is refused with every problem at once, each naming file, item and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_sync.errors import PolicyError
from esc_sync.policy import load_policy

from .stories import TIERS, write

TRIGGER = """
[[rules]]
id = "vip-urgent"
name = "VIP and urgent"
when.all = [
  {{ field = "status", in = ["new", "open"] }},
  {condition},
]
then.escalate_to = "t2"
"""


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rules/ folder with tiers and playbooks, seen from its parent as the admin sees it."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "rules"
    write(folder, "tiers.toml", TIERS)
    write(folder, "templates/briefing.md.j2", "{{ marker }}\n")
    return folder


def problems(custom_fields: list[str] | None = None) -> list[str]:
    """Load ./rules and return the problem lines (failing the test when it loads)."""
    with pytest.raises(PolicyError) as caught:
        load_policy(Path("rules"), custom_fields=custom_fields)
    return caught.value.problems


def trigger(folder: Path, condition: str) -> None:
    """Write the vip-urgent rule with `condition` as its second test."""
    write(folder, "triggers.toml", TRIGGER.format(condition=condition))


def test_a_misspelt_field_names_file_rule_path_and_suggestion(rules_dir: Path) -> None:
    """The canonical example from the admin guide, verbatim."""
    trigger(rules_dir, '{ field = "prioity", eq = "urgent" }')
    assert problems() == [
        'rules/triggers.toml: rule "vip-urgent": when.all[1].field: '
        'unknown field "prioity" (did you mean "priority"?)'
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            '{ field = "priority", equals = "urgent" }',
            'when.all[1]: unknown operator "equals" (did you mean "eq"?)',
        ),
        (
            '{ field = "subject", match = "x" }',
            'when.all[1]: unknown operator "match" (did you mean "matches"?)',
        ),
        (
            '{ field = "priority", eq = "urgent", ne = "low" }',
            'when.all[1]: a test has exactly one operator, found 2: "eq", "ne"',
        ),
        (
            '{ field = "priority" }',
            "when.all[1]: a test needs one operator (eq, ne, in, not_in, contains, matches, gt, "
            "gte, lt, lte, exists, older_than, newer_than), found none",
        ),
        (
            '{ field = "priority", eq = "urgnt" }',
            'when.all[1].eq: unknown priority "urgnt" (did you mean "urgent"?); '
            "use: low, normal, high, urgent",
        ),
        (
            '{ field = "status", in = ["opne"] }',
            'when.all[1].in[0]: unknown status "opne" (did you mean "open"?); '
            "use: new, open, pending, on_hold, solved, closed",
        ),
        (
            '{ field = "satisfaction", eq = "bda" }',
            'when.all[1].eq: unknown satisfaction "bda" (did you mean "bad"?); '
            "use: good, bad, none",
        ),
        (
            '{ field = "reopens", matches = "2" }',
            'when.all[1].matches: operator "matches" does not apply to number field "reopens" '
            "(use one of: eq, ne, in, not_in, gt, gte, lt, lte, exists)",
        ),
        (
            '{ field = "subject", older_than = "4h" }',
            'when.all[1].older_than: operator "older_than" does not apply to text field "subject" '
            "(use one of: eq, ne, in, not_in, contains, matches, exists)",
        ),
        ('{ field = "reopens", gte = "two" }', "when.all[1].gte: expected a number, got 'two'"),
        ('{ field = "agent_replies", eq = "0" }', "when.all[1].eq: expected a number, got '0'"),
        (
            '{ field = "tags", exists = "yes" }',
            "when.all[1].exists: expected true or false, got 'yes'",
        ),
        (
            '{ field = "status", in = "open" }',
            'when.all[1].in: "in" needs a list of values, e.g. in = ["open", "pending"]',
        ),
        (
            '{ field = "subject", matches = "(refund" }',
            "when.all[1].matches: bad regular expression '(refund': "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            '{ field = "created_at", older_than = "4 hours" }',
            "when.all[1].older_than: invalid duration '4 hours': use a number with a unit s, m, h "
            'or d, combined largest first (e.g. "45s", "15m", "4h", "2d", "1d4h")',
        ),
        (
            '{ field = "created_at", older_than = "4h", business = true }',
            "when.all[1].business: business time needs a calendar: define [calendars.<id>]",
        ),
        ('{ field = "tier", eq = "t7" }', 'when.all[1].eq: unknown tier "t7"; use: t1, t2, t3'),
        ("{ any = [] }", "when.all[1].any: empty list: write a condition"),
        (
            '{ all = [{ field = "id", gt = 1 }], any = [{ field = "id", gt = 1 }] }',
            'when.all[1]: a group has one of all/any/none, found "all", "any"',
        ),
    ],
)
def test_a_bad_condition_is_explained(rules_dir: Path, condition: str, expected: str) -> None:
    """Each kind of mistake in a test gets its own precise line."""
    trigger(rules_dir, condition)
    assert problems() == [f'rules/triggers.toml: rule "vip-urgent": {expected}']


def test_nested_mistakes_carry_their_full_path(rules_dir: Path) -> None:
    """A mistake deep in a group names every step of the way."""
    trigger(
        rules_dir,
        '{ any = [{ field = "tags", contains = "vip" }, { none = [{ field = "x", eq = 1 }] }] }',
    )
    assert problems() == [
        'rules/triggers.toml: rule "vip-urgent": when.all[1].any[1].none[0].field: '
        'unknown field "x"'
    ]


def test_custom_fields_are_checked_against_the_profile(rules_dir: Path) -> None:
    """With the profile's field names, a misspelt custom field is caught; without, it passes."""
    trigger(rules_dir, '{ field = "custom.refund_amt", gte = 500 }')
    assert problems(["refund_amount", "plan"]) == [
        'rules/triggers.toml: rule "vip-urgent": when.all[1].field: unknown custom field '
        '"custom.refund_amt" (did you mean "custom.refund_amount"?); '
        "the connector profile's [fields] names: plan, refund_amount"
    ]
    assert load_policy(Path("rules")).rules[0].id == "vip-urgent"


def test_every_problem_is_reported_at_once(rules_dir: Path) -> None:
    """One run lists the structural and the semantic mistakes of every rule and file."""
    write(
        rules_dir,
        "triggers.toml",
        """
[[rules]]
id = "vip-urgent"
name = "VIP and urgent"
wen = 1
when.all = [
  { field = "prioity", eq = "urgent" },
  { field = "subject", matches = "(unclosed" },
]
then.escalate_to = "t9"
then.note = "briefng"
then.notify_customer = "transfer"
then.playbook = "legal-reviw"

[[rules]]
id = "no-conditions"
name = "Nothing to test"
then.escalate_to = "t2"

[[rules]]
id = "vip-urgent"
name = "Copy"
when.all = [{ field = "status", eq = "open" }]
""",
    )
    write(
        rules_dir,
        "more.toml",
        '[[rule]]\nid = "x"\n\n[[tiers]]\nid = "t2"\nname = "Again"\n'
        'respond_within = "1h"\nresolve_within = "4 days"\n',
    )
    t = 'rules/triggers.toml: rule "vip-urgent": '
    assert (
        problems()
        == [
            'rules/more.toml: unknown key "rule" (did you mean "rules"?)',
            "rules/more.toml: tier \"t2\": resolve_within: invalid duration '4 days': use a "
            "number with a unit s, m, h or d, combined largest first "
            '(e.g. "45s", "15m", "4h", "2d", "1d4h")',
            'rules/tiers.toml: tier "t2": duplicate tier id, also in rules/more.toml',
            t + 'unknown key "wen" (did you mean "when"?)',
            t + "duplicate rule id, also in rules/triggers.toml",
            t + 'when.all[0].field: unknown field "prioity" (did you mean "priority"?)',
            t + "when.all[1].matches: bad regular expression '(unclosed': "
            "missing ), unterminated subpattern at position 0",
            t
            + 'then.escalate_to: unknown tier "t9"; use: t2, t1, t3',  # seen order: more.toml first
            t + 'then.playbook: unknown playbook "legal-reviw" (did you mean "legal-review"?); '
            "use: frontline, team-lead, legal-review",
            t + 'then.note: unknown template "briefng" (did you mean "briefing"?); '
            "templates are rules/templates/*.md.j2",
            t + 'then.notify_customer: unknown template "transfer"; '
            "templates are rules/templates/*.md.j2",
            'rules/triggers.toml: rule "no-conditions": when: a rule needs at least one condition '
            "(when.all, when.any or when.none)",
        ]
    )


def test_malformed_toml_names_line_and_column(rules_dir: Path) -> None:
    """A syntax error points at the spot."""
    write(rules_dir, "triggers.toml", '[[rules]]\nid = "a"\nname = = "b"\n')
    assert problems() == [
        "rules/triggers.toml: malformed TOML: Invalid value (at line 3, column 8)"
    ]


def test_playbooks_tiers_ladder_and_calendars_are_checked(rules_dir: Path) -> None:
    """References between tiers, playbooks, calendars and the ladder must resolve."""
    write(
        rules_dir,
        "extra.toml",
        """
[playbooks.callback]
steps = [{ title = "Call back", due = "2h", after = "previous" }]

[calendars.emea]
timezone = "Europe/Pariss"
hours = { monday = "09:00-17:00", tue = "17:00-09:00" }
holidays = { country = "XX" }

[[tiers]]
id = "t4"
name = "Executive"
respond_within = "30m"
resolve_within = "4h"
calendar = "suport"
playbook = "exec"

[ladder]
on_missed_response = "nxt"
top = "t5"
""",
    )
    assert problems() == [
        "rules/extra.toml: calendar \"emea\": timezone: unknown timezone 'Europe/Pariss' "
        '(use an IANA name: "Europe/Paris")',
        "rules/extra.toml: calendar \"emea\": hours.tue: invalid hours '17:00-09:00': "
        "the start must be before the end",
        'rules/extra.toml: calendar "emea": hours: unknown key "monday" (did you mean "mon"?)',
        "rules/extra.toml: calendar \"emea\": holidays: unknown holiday country 'XX' "
        "(use an ISO code: US, GB)",
        'rules/extra.toml: ladder: on_missed_response: unknown value "nxt" (did you mean "next"?); '
        "use: next, stay",
        'rules/extra.toml: tier "t4": calendar: unknown calendar "suport"; use: emea',
        'rules/extra.toml: tier "t4": playbook: unknown playbook "exec"; '
        "use: callback, frontline, team-lead, legal-review",
        'rules/extra.toml: playbook "callback": steps[0].after: the first step has no previous '
        'step: anchor it on "escalated" or "resolved"',
    ]


def test_a_missing_policy_is_reported(tmp_path: Path) -> None:
    """Pointing at nothing is a problem, not a crash."""
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "nowhere")
    assert caught.value.problems == [f"{tmp_path / 'nowhere'}: no such file or folder"]


def test_a_single_file_policy_loads_with_its_folders_templates(rules_dir: Path) -> None:
    """rules = "rules/all.toml" works too; templates come from rules/templates."""
    text = TIERS + TRIGGER.format(condition='{ field = "priority", eq = "urgent" }')
    write(rules_dir.parent, "single/all.toml", text)
    write(rules_dir.parent, "single/templates/briefing.md.j2", "{{ marker }}")
    policy = load_policy(Path("single/all.toml"))
    assert policy.template_dir == Path("single/templates")
    assert [r.id for r in policy.rules] == ["vip-urgent"]


def test_the_rule_tests_folder_is_not_policy(rules_dir: Path) -> None:
    """rules/tests/*.toml hold cases, not rules, and are not loaded."""
    trigger(rules_dir, '{ field = "priority", eq = "urgent" }')
    write(rules_dir, "tests/cases.toml", "[[cases]]\nname = 'x'\n")
    assert [r.id for r in load_policy(Path("rules")).rules] == ["vip-urgent"]


def test_the_schema_speaks_the_admins_keys() -> None:
    """The JSON Schema for editors uses the TOML spellings ("in", "all", "except")."""
    from esc_sync.policy.schema import json_schema

    schema = json_schema()
    condition = schema["$defs"]["Condition"]["properties"]
    assert {"in", "not_in", "all", "any", "none", "older_than"} <= set(condition)
    assert "in_" not in condition
    assert "except" in schema["$defs"]["Holidays"]["properties"]
    assert schema["additionalProperties"] is False
