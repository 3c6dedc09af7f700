"""Policies over a plan, in CEL (SPEC 8), and approvals as data (SPEC 5): the policy model and
its results, compiling each policy once (into Python closures that evaluate a change as
celpy would: `cel`, `lowering`, `closures`, `operations`, `values`), evaluating them over a
Plan's changes (fail closed), what blocks an apply and what an override lets through, and
which reviews count as approvals. Pure: celpy is loaded only when a policy is parsed (the
compiled forms are kept between runs by reconciler.records.policy_cache); GitHub's calls are
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
from reconciler.policy.form import Entry, FormStore
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
    "Entry",
    "FormStore",
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
