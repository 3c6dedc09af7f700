"""Policies over a plan, in CEL (SPEC 8), and approvals as data (SPEC 5): the policy model and
its results, compiling each policy once, evaluating them over a Plan's changes (fail closed),
what blocks an apply and what an override lets through, and which reviews count as
approvals.

The compiler: `cel` (compile an expression, evaluate it; celpy for what is not compiled),
`tree` (the names and input paths of celpy's parse tree), `lowering` (the tree as a small
intermediate form), `closures` and `runtime` (the form as Python closures), `operations`,
`functions` and `values` (CEL's operators, functions and values with celpy's semantics) and
`form` (what is kept between runs, by reconciler.records.policy_cache). Pure: celpy is loaded
only when a policy is parsed; GitHub's calls are reconciler.github's."""

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
from reconciler.policy.form import FormStore, KeptForm
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
    "FormStore",
    "KeptForm",
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
