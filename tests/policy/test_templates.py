"""Templates: sandboxed, strict about names, and ticket text is data, never template source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from esc_sync.errors import PolicyError
from esc_sync.policy import Policy, load_policy, sample_context
from esc_sync.policy.templates import Templates

from .stories import TIERS, write


def test_the_briefing_carries_the_marker_and_the_evidence(default_policy: Policy) -> None:
    """The shipped briefing, with the sample context, ends with the marker line."""
    note = default_policy.render("briefing", sample_context())
    assert note.rstrip().endswith("esc-sync:manager-request:t2:ep1")
    assert "Customer asks for a manager" in note
    assert 'seen "supervisor"' in note
    assert "Respond by 2026-03-02 12:01" in note
    assert "- [ ] Listen and acknowledge" in note
    assert "We have asked billing to look at this." in note


def test_the_briefing_copes_with_a_ticket_we_know_little_about(default_policy: Policy) -> None:
    """No previous tier, no deadlines, no replies: still a readable note with the marker."""
    note = default_policy.render("briefing", sample_context(minimal=True))
    assert "esc-sync:manager-request:t2:ep1" in note
    assert "No agent reply yet." in note


def test_ticket_text_that_looks_like_a_template_is_printed_as_written(
    default_policy: Policy,
) -> None:
    """A customer typing Jinja gets their text quoted back, not evaluated."""
    context = sample_context()
    context["ticket"]["subject"] = "Why {{ 7*7 }}?"
    context["history"]["latest_customer_comment"] = "{% for x in range(3) %}{{ x }}{% endfor %}"
    note = default_policy.render("briefing", context)
    assert "Why {{ 7*7 }}?" in note
    assert "{% for x in range(3) %}{{ x }}{% endfor %}" in note
    assert "49" not in note


def test_the_customer_message_is_warm_and_has_no_internals(default_policy: Policy) -> None:
    """The transfer message names the person, not the machinery."""
    message = default_policy.render("transfer", sample_context())
    assert message.startswith("Hello Dana Whitfield,")
    assert "team lead" in message
    assert "esc-sync" not in message
    assert "manager-request" not in message


def test_a_sandbox_escape_is_refused_when_rendering(tmp_path: Path) -> None:
    """Reaching Python internals from a template raises SecurityError."""
    write(tmp_path, "evil.md.j2", "{{ ''.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        Templates(tmp_path).render("evil", sample_context())


def template_problems(tmp_path: Path, name: str, text: str) -> list[str]:
    """Load a small policy with one extra template and return its problems."""
    write(tmp_path, "tiers.toml", TIERS)
    write(tmp_path, f"templates/{name}", text)
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "{{ ''.__class__.__mro__ }}",
            "unsafe: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        ("Hello {{ tickt.subject }}", "undefined name: 'tickt' is undefined"),
        ("{{ decision.previous_tier.name }}", "undefined name: 'None' has no attribute 'name'"),
        (
            "{% if ticket.id %}no end",
            "line 1: Unexpected end of template. Jinja was looking for the following tags: 'elif' "
            "or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
        ),
    ],
)
def test_template_mistakes_are_policy_errors_at_load(
    tmp_path: Path, text: str, problem: str
) -> None:
    """Escapes, misspelt names, unguarded optional parts and syntax errors fail the check."""
    assert template_problems(tmp_path, "note.md.j2", text) == [
        f"{tmp_path / 'templates' / 'note.md.j2'}: {problem}"
    ]


def test_rendering_an_unknown_template_is_a_policy_error(default_policy: Policy) -> None:
    """The worker gets a clear error, not a Jinja traceback."""
    with pytest.raises(PolicyError, match="no such template"):
        default_policy.render("apology", sample_context())


def test_render_accepts_any_mapping(default_policy: Policy) -> None:
    """The context may be any mapping of plain values."""
    context: dict[str, Any] = sample_context()
    assert "Hello" in default_policy.render("transfer.md.j2", context)


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''|attr('__class__') }}",
        "{{ ticket.__class__.__base__.__subclasses__() }}",
        "{{ ticket.subject.__class__.__mro__ }}",
        "{{ (1).__class__.__bases__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ ticket.update.__self__ }}",
        "{% set x = ''.__class__ %}{{ x }}",
    ],
)
def test_attribute_escapes_and_friends_are_refused(tmp_path: Path, payload: str) -> None:
    """No template reaches Python internals: the sandbox (or a strict name) stops it."""
    write(tmp_path, "evil.md.j2", payload)
    with pytest.raises((SecurityError, UndefinedError)):
        Templates(tmp_path).render("evil", sample_context())


def test_ticket_text_with_an_escape_payload_is_quoted_not_run(default_policy: Policy) -> None:
    """Ticket text holding an escape attempt is printed as written, never evaluated."""
    context = sample_context()
    payload = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    context["ticket"]["subject"] = payload
    context["history"]["latest_customer_comment"] = "{{ lipsum.__globals__ }}"
    note = default_policy.render("briefing", context)
    assert payload in note and "{{ lipsum.__globals__ }}" in note
    assert "<class" not in note and "subprocess" not in note
