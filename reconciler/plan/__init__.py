"""The plan: what must change for the directory to match the files. Pure: no I/O.

- `model`: Change, Plan, FieldChange, the plan digest;
- `build`: `build_plan`, the diff of the desired state against the ledger, ordered;
- `diff`: `field_changes`, field-level diffs with list items paired by identity;
- `safety`: the deactivation guard;
- `saved`: a plan saved with `plan --out`, read back and checked in full.
"""

from reconciler.plan.build import build_plan
from reconciler.plan.diff import field_changes
from reconciler.plan.model import (
    DIGEST_PATTERN,
    PLAN_FORMAT,
    Change,
    FieldChange,
    Plan,
    plan_digest,
)
from reconciler.plan.safety import check_safety, unsafe_reason

__all__ = [
    "DIGEST_PATTERN",
    "PLAN_FORMAT",
    "Change",
    "FieldChange",
    "Plan",
    "build_plan",
    "check_safety",
    "field_changes",
    "plan_digest",
    "unsafe_reason",
]
