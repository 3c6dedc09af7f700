"""The use cases: validate, plan, apply, verify, drift, import, the views and init, each a
function of its collaborators (the workspace, a Redox API, callbacks for the person at the
terminal). The CLI parses arguments, calls one of these, renders what it returns and exits; the
decisions are made here. Each module serves the CLI module of the same name (cli/records.py calls
records.py, and so on).

The data path of apply: cli -> reconcile -> (loader, ledger, plan) -> apply -> client. The use
cases that talk to Redox import apply and lookup (and so asyncio) when they run: validate and
plan must start fast.
"""

from reconciler.ledger.adopt import Adoption
from reconciler.plan import DIGEST_PATTERN, Plan
from reconciler.reconcile.apply import Applied, apply
from reconciler.reconcile.observe import DriftReport, drift, import_, refreshed_plan
from reconciler.reconcile.planning import (
    Validation,
    check_expected_digest,
    check_policies,
    hard_violations,
    ledger,
    plan,
    policy_results,
    read_saved_plan,
    save_plan,
    validate,
)
from reconciler.reconcile.report import gather_report, save_report
from reconciler.reconcile.scaffold import Written, init_repository
from reconciler.reconcile.verify import Checked, verify
from reconciler.reconcile.views import graph, history, status
from reconciler.views.graph import Graph
from reconciler.views.history import History
from reconciler.views.status import Status

__all__ = [
    "DIGEST_PATTERN",
    "Adoption",
    "Applied",
    "Checked",
    "DriftReport",
    "Graph",
    "History",
    "Plan",
    "Status",
    "Validation",
    "Written",
    "apply",
    "check_expected_digest",
    "check_policies",
    "drift",
    "gather_report",
    "graph",
    "hard_violations",
    "history",
    "import_",
    "init_repository",
    "ledger",
    "plan",
    "policy_results",
    "read_saved_plan",
    "refreshed_plan",
    "save_plan",
    "save_report",
    "status",
    "validate",
    "verify",
]
