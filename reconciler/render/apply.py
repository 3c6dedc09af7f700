"""An apply's result in words: the summary line (its counts are the ledger's) and a line for each
record that did not get its change. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.engine.result import Result
    from reconciler.reconcile.apply import Applied

NO_CHANGES = "No changes: the directory matches the files. Nothing to apply."
DECLINED = "Apply cancelled: nothing was sent."


def apply_summary(result: Result) -> str:
    """One line: what was applied, failed, skipped, (when stopped) not started and left in
    flight, then how long it took."""
    done = result.count("applied") + result.count("adopted")
    counts = (
        f"{done} applied ({result.count('adopted')} already in the directory), "
        f"{result.count('failed')} failed, {result.count('skipped')} skipped"
    )
    left = result.intents_left
    settle = f"; {left} intent{'' if left == 1 else 's'} left for the next apply to settle"
    took = f" Took {duration(result.elapsed)}." if result.elapsed is not None else ""
    if not result.interrupted:
        return f"Apply complete: {counts}{settle if left else ''}.{took}"
    return (
        f"Interrupted: {counts}, {result.count('not_started')} not started, "
        f"{result.count('in_flight')} in flight when stopped{settle}.{took}"
    )


def render_applied(applied: Applied) -> str:
    """What `apply` prints once it has run: the summary, then each record that failed or was
    skipped, with why."""
    if applied.status == "no_changes":
        return NO_CHANGES + "\n"
    if applied.status == "declined":
        return DECLINED + "\n"
    result = applied.result
    if applied.plan is None:
        return (
            "Interrupted before the plan was carried out: nothing was sent. "
            f"{result.intents_left} intent(s) left for the next apply to settle.\n"
        )
    lines = [apply_summary(result)]
    lines += [
        f"  {o.status}: {o.action} {o.key}: {o.message}"
        for o in result.outcomes
        if o.status in {"failed", "skipped"}
    ]
    return "\n".join(lines) + "\n"


def duration(seconds: float) -> str:
    """1.5s, 2m05s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
