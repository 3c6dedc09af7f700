"""Policies over a plan, in CEL (SPEC 8), and approvals as data (SPEC 5): the policy model and
its results, compiling each policy once, evaluating them over a Plan's changes (fail closed),
what blocks an apply and what an override lets through, and which reviews count as
approvals. Pure: celpy is loaded only when a policy is compiled; GitHub's calls are
reconciler.github's."""

from __future__ import annotations

from reconciler.policy.evaluate import (
    Compiled,
    PolicyCompileError,
    change_input,
    compile_policies,
    compile_problems,
    evaluate,
    plan_input,
)
from reconciler.policy.model import (
    Level,
    Policy,
    PolicyResult,
    Violation,
    blocking,
    overridden,
    violated,
)

__all__ = [
    "Compiled",
    "Level",
    "Policy",
    "PolicyCompileError",
    "PolicyResult",
    "Violation",
    "blocking",
    "change_input",
    "compile_policies",
    "compile_problems",
    "evaluate",
    "overridden",
    "plan_input",
    "violated",
]
