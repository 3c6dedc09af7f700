"""The safety guard (octoDNS's threshold): a plan that deactivates more than a share of the active
records is refused without --force. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.errors import UnsafePlan
from reconciler.ledger.model import Ledger
from reconciler.model import Action
from reconciler.plan.model import Change, Plan


def check_safety(plan: Plan, *, force: bool) -> None:
    """UnsafePlan when the plan deactivates too much and --force was not given."""
    if plan.unsafe and not force:
        raise UnsafePlan(plan.unsafe)


def unsafe_reason(
    changes: Iterable[Change], ledger: Ledger, fraction: float, minimum: int
) -> str | None:
    """Why the safety guard refuses `changes` against `ledger` without --force (None when it
    does not): they deactivate more than `fraction` of its active records, once it has at
    least `minimum`."""
    active = ledger.active_count()
    deactivating = sum(1 for c in changes if c.action == Action.DEACTIVATE)
    if active < minimum or active == 0 or deactivating / active <= fraction:
        return None
    return (
        f"this plan deactivates {deactivating} of {active} active records "
        f"({deactivating / active:.0%}), more than the safety limit of {fraction:.0%} "
        "(safety.max_deactivate_fraction in reconciler.yaml). If that is intended, run it "
        "again with --force"
    )
