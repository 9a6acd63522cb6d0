"""Hypothesis strategies for hostile ticket payloads: missing fields, wrong types, huge
strings, unicode, nulls, nesting where a scalar belongs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

HUGE = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(1_000, 60_000))
WEIRD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud7ff\ufeff\u202e",
            "😀" * 3,
            "{{ 7*7 }}",
            "{% for x in y %}",
            "2024-13-45T99:99:99Z",
            "1e309",
            "NaN",
            "-0",
            "null",
            "<script>alert(1)</script>",
            "\u0130stanbul",
        ]
    ),
    HUGE,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    WEIRD_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def mutated(template: dict[str, Any], extra_keys: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """A template record with some keys deleted and some replaced by hostile values
    (and, now and then, not a record at all)."""
    keys = sorted(set(template) | set(extra_keys))

    def build(dropped: set[str], replaced: dict[str, Any]) -> dict[str, Any]:
        """Apply the deletions and replacements to a copy of the template."""
        record = {k: v for k, v in template.items() if k not in dropped}
        record.update(replaced)
        return record

    records = st.builds(
        build,
        st.sets(st.sampled_from(keys), max_size=4),
        st.dictionaries(st.sampled_from(keys), JSON, max_size=5),
    )
    return st.one_of(records, records, records, JSON)


def one_field(template: dict[str, Any], keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """The template with exactly one of `keys` replaced by a hostile value (or removed)."""
    missing = object()

    def build(key: str, value: Any) -> dict[str, Any]:
        """Apply one replacement (a `missing` value deletes the key)."""
        record = dict(template)
        if value is missing:
            record.pop(key, None)
        else:
            record[key] = value
        return record

    return st.builds(build, st.sampled_from(keys), st.one_of(st.just(missing), JSON))


def assert_well_typed(ticket: Any) -> None:
    """A normalised ticket has the model's types, whatever the payload held."""
    assert isinstance(ticket.id, int) and not isinstance(ticket.id, bool)
    assert isinstance(ticket.subject, str) and isinstance(ticket.description, str)
    assert isinstance(ticket.tags, tuple) and all(isinstance(t, str) for t in ticket.tags)
    assert ticket.priority is None or isinstance(ticket.priority, str)
    assert isinstance(ticket.status, str)
    assert ticket.group is None or isinstance(ticket.group, int | str)
    assert isinstance(ticket.requester.tags, tuple)
    assert all(isinstance(t, str) for t in ticket.requester.tags + ticket.organization.tags)
