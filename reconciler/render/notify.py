"""The words of a notification (SPEC 5): which event, in which environment, the counts, and in
a workflow the pull request and the run. Plain text: apprise shapes it for each service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.notify.context import RunContext

# The counts an apply reports, in the order they are told.
APPLY_COUNTS = (
    "created",
    "updated",
    "deactivated",
    "reactivated",
    "adopted",
    "failed",
    "skipped",
    "not_started",
    "unverified",
)


@dataclass(frozen=True)
class Notification:
    """A title (a chat message's first line, an email's subject) and a body."""

    title: str
    body: str


def counted(counts: Mapping[str, int], names: tuple[str, ...] = APPLY_COUNTS) -> str:
    """`2 created, 1 updated` (zeros left out; names outside `names` after them)."""
    order = [n for n in names if n in counts] + [n for n in counts if n not in names]
    parts = [f"{counts[n]} {n.replace('_', ' ')}" for n in order if counts[n]]
    return ", ".join(parts) if parts else "nothing"


def _changes(counts: Mapping[str, int]) -> int:
    return sum(counts.get(n, 0) for n in ("created", "updated", "deactivated", "reactivated"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_notification(
    event: str,
    *,
    environment: str,
    counts: Mapping[str, int],
    context: RunContext,
    detail: str = "",
) -> Notification:
    """The message of one event."""
    env = environment
    if event == "apply.applied":
        title = f"reconciler: applied to {env}"
        lead = f"Applied {_plural(_changes(counts), 'change')} to {env}: {counted(counts)}."
    elif event == "apply.failed":
        title = f"reconciler: apply to {env} failed"
        lead = f"The apply to {env} did not finish: {counted(counts)}."
    elif event == "apply.refused":
        title = f"reconciler: apply to {env} refused"
        lead = f"Nothing was applied to {env}: the apply was refused before any call."
    elif event == "apply.unverified":
        title = f"reconciler: apply to {env} unverified"
        unverified = counts.get("unverified", 0)
        lead = (
            f"Applied to {env}, but the directory does not show "
            f"{_plural(unverified, 'change')} yet: {counted(counts)}."
        )
    elif event == "drift.found":
        title = f"reconciler: drift in {env}"
        lead = (
            f"The Redox directory differs from what was last applied to {env}: "
            f"{_plural(counts.get('drifted', 0), 'record')} of {counts.get('checked', 0)} "
            "checked."
        )
    elif event == "drift.resolved":
        title = f"reconciler: drift in {env} resolved"
        lead = (
            f"The Redox directory matches what was last applied to {env} again: "
            f"{_plural(counts.get('checked', 0), 'record')} checked, none differs."
        )
    else:
        title = f"reconciler: {event} in {env}"
        lead = f"{event} in {env}: {counted(counts)}."
    lines = [lead]
    if detail:
        lines.append(detail)
    if context.pull_url:
        lines.append(f"Pull request: #{context.pull_request} {context.pull_url}")
    if context.run_url:
        lines.append(f"Run: {context.run_url}")
    return Notification(title, "\n".join(lines))
