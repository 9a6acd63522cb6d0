"""The escalation policy: schema, loader with precise errors, compiled rules, templates."""

from esc_sync.policy.engine import NO_CONTEXT, EvalContext, Policy
from esc_sync.policy.loader import load_policy
from esc_sync.policy.templates import sample_context

__all__ = ["NO_CONTEXT", "EvalContext", "Policy", "load_policy", "sample_context"]
