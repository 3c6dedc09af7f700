"""The use cases: validate, plan, apply, verify, drift, import, the views and init, each a
function of its collaborators (the workspace, a Redox API, callbacks for the person at the
terminal). The CLI parses arguments, calls one of these, renders what it returns and exits; the
decisions are made here. Each module serves the CLI module of the same name (cli/records.py calls
records.py, and so on).

The data path of apply: cli -> reconcile -> (loader, ledger, plan) -> apply -> client. The use
cases that talk to Redox import apply and lookup (and so asyncio) when they run: validate and
plan must start fast. So must this package: each name below is imported from its module when it
is first asked for (`reconcile.validate` loads neither the ledger nor the views).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from reconciler import lazy_names

if TYPE_CHECKING:
    from reconciler.ledger.adopt import Adoption
    from reconciler.plan.model import DIGEST_PATTERN, Plan
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

_WHERE = {
    "Adoption": "reconciler.ledger.adopt",
    "Applied": "reconciler.reconcile.apply",
    "Checked": "reconciler.reconcile.verify",
    "DIGEST_PATTERN": "reconciler.plan.model",
    "DriftReport": "reconciler.reconcile.observe",
    "Graph": "reconciler.views.graph",
    "History": "reconciler.views.history",
    "Plan": "reconciler.plan.model",
    "Status": "reconciler.views.status",
    "Validation": "reconciler.reconcile.planning",
    "Written": "reconciler.reconcile.scaffold",
    "apply": "reconciler.reconcile.apply",
    "check_expected_digest": "reconciler.reconcile.planning",
    "check_policies": "reconciler.reconcile.planning",
    "drift": "reconciler.reconcile.observe",
    "gather_report": "reconciler.reconcile.report",
    "graph": "reconciler.reconcile.views",
    "hard_violations": "reconciler.reconcile.planning",
    "history": "reconciler.reconcile.views",
    "import_": "reconciler.reconcile.observe",
    "init_repository": "reconciler.reconcile.scaffold",
    "ledger": "reconciler.reconcile.planning",
    "plan": "reconciler.reconcile.planning",
    "policy_results": "reconciler.reconcile.planning",
    "read_saved_plan": "reconciler.reconcile.planning",
    "refreshed_plan": "reconciler.reconcile.observe",
    "save_plan": "reconciler.reconcile.planning",
    "save_report": "reconciler.reconcile.report",
    "status": "reconciler.reconcile.views",
    "validate": "reconciler.reconcile.planning",
    "verify": "reconciler.reconcile.verify",
}

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


__getattr__ = lazy_names(__name__, _WHERE)


class _UseCases(types.ModuleType):
    """This package, whose use case `apply` is named like its module `apply`: importing the
    module binds the package's attribute of that name to it (the import system does), which
    must not hide the use case. Such a binding is dropped, and `apply` is found above."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _WHERE:
            self.__dict__.pop(name, None)
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _UseCases
