"""Which event an apply's outcome is, and its counts. The apply's types are not imported: an
outcome is anything with an `action` and a `status` (engine.applier.Outcome)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from reconciler.notify.settings import Event

_DONE = {
    "create": "created",
    "update": "updated",
    "deactivate": "deactivated",
    "reactivate": "reactivated",
}
_UNFINISHED = ("failed", "skipped", "not_started", "in_flight")


class Outcome(Protocol):
    @property
    def action(self) -> str: ...

    @property
    def status(self) -> str: ...


def apply_counts(outcomes: Iterable[Outcome], *, unverified: int = 0) -> dict[str, int]:
    """`created`, `updated`, `deactivated`, `reactivated`, `adopted`, `failed`, `skipped`,
    `not_started`, `in_flight` (and `unverified`, when given) of an apply's outcomes. The
    settling of an earlier run's intents (resolved, dropped) is not this run's news."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.status == "applied":
            name = _DONE.get(outcome.action, "applied")
        elif outcome.status == "adopted" or outcome.status in _UNFINISHED:
            name = outcome.status
        else:
            continue
        counts[name] = counts.get(name, 0) + 1
    if unverified:
        counts["unverified"] = unverified
    return counts


def apply_event(status: str, counts: Mapping[str, int]) -> Event | None:
    """The event of an apply that ended with `status` (reconcile.Applied's) and `counts`
    (apply_counts'): None when nothing was to be sent (no changes, or the person said no)."""
    if status in {"no_changes", "declined"}:
        return None
    if status == "interrupted" or any(counts.get(name) for name in _UNFINISHED):
        return "apply.failed"
    if counts.get("unverified"):
        return "apply.unverified"
    return "apply.applied"
