"""The audit trail (SPEC 9): who applied what to an environment, when, and on whose approval,
one JSON line per apply in `audit/<environment>.jsonl`, each chained to the one before by its
hash.

Offered here (pure: the renderers and the core may import them):
- `entry_for(...)`: the draft of an apply's line (`calls_of` and `result_of` help fill it);
  `AuditEntry`, `Call`, `Draft`: the line's model; `line_hash`: its hash;
- `Verification`, `BadLine`, `BadVersion`: what `audit verify` finds.

With I/O, imported from their modules:
- `reconciler.audit.trail.AuditTrail`: `prepare()`, then `append(draft)`: crash-safe
  appending at a cost that does not grow with the trail, under the apply lock the caller
  holds (`Workspace.audit_trail()` makes the environment's);
- `reconciler.audit.verify.verify_trail`: the chain, and that each committed version of the
  trail extends the one before;
- `reconciler.audit.actor.resolve_actor(environ, repo)`: who is applying, and how.
"""

from reconciler.audit.entry import (
    GENESIS,
    RESULTS,
    AuditEntry,
    Call,
    Draft,
    Result,
    Via,
    calls_of,
    entry_for,
    line_hash,
    result_of,
)
from reconciler.audit.findings import BadLine, BadVersion, Verification

__all__ = [
    "GENESIS",
    "RESULTS",
    "AuditEntry",
    "BadLine",
    "BadVersion",
    "Call",
    "Draft",
    "Result",
    "Verification",
    "Via",
    "calls_of",
    "entry_for",
    "line_hash",
    "result_of",
]
