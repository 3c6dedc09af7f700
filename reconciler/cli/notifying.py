"""The run's notifications (SPEC 5, `notify`), sent by the commands that have news: apply,
drift, and the workflow steps `github check-reviewed` and `github drift-issue`. Only warnings
ever come of them (logged to stderr, masked); the exit code is the command's own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from reconciler.cli.base import environ
from reconciler.errors import ReconcilerError
from reconciler.reconcile.workspace import Workspace

if TYPE_CHECKING:
    from reconciler.notify import Event, NotifyEntry, Outcome


def _entries(ws: Workspace) -> list[NotifyEntry]:
    try:
        return list(ws.settings.file.notify)
    except ReconcilerError:
        return []  # the command itself reports invalid settings


def mask(ws: Workspace) -> None:
    """Register every notification URL as a secret before the command prints anything."""
    entries = _entries(ws)
    if entries:
        from reconciler.notify import register_urls

        register_urls(entries, environ())


def notify(ws: Workspace, event: Event, counts: Mapping[str, int], *, detail: str = "") -> None:
    """Send `event` of the workspace's environment to every notify entry that wants it."""
    entries = _entries(ws)
    if not entries:
        return
    from reconciler.notify import RunContext, send

    env = environ()
    send(
        entries,
        event=event,
        environment=ws.env_name,
        counts=counts,
        context=RunContext.from_environ(env),
        environ=env,
        detail=detail,
    )


def notify_apply(
    ws: Workspace, status: str, outcomes: Iterable[Outcome], *, unverified: int = 0
) -> None:
    """apply.applied, apply.failed or apply.unverified for an apply that ended with `status`
    (reconcile.Applied's), these outcomes, and `unverified` changes the directory does not
    show yet."""
    if not _entries(ws):
        return
    from reconciler.notify import apply_counts, apply_event

    counts = apply_counts(outcomes, unverified=unverified)
    event = apply_event(status, counts)
    if event is not None:
        notify(ws, event, counts)
