"""Notifications (SPEC 5): each `notify` entry of reconciler.yaml names an environment variable
holding an apprise URL (Slack, Teams, email, a JSON webhook, ...), the events it wants and the
environments they come from. `send` posts one event to every entry that wants it, within five
seconds, and only ever warns. apprise is an optional extra (`redox-reconciler[notify]`),
imported only when a message is sent.

Each module is imported when one of its names is first asked for: reading reconciler.yaml
(`validate`, `plan`) needs the settings' model alone, not the delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler import lazy_names

if TYPE_CHECKING:
    from reconciler.notify.context import PULL_REQUEST_VARIABLE, RunContext
    from reconciler.notify.deliver import (
        INSTALL,
        TIMEOUT,
        Delivery,
        available,
        register_urls,
        send,
        wanted,
    )
    from reconciler.notify.events import Outcome, apply_counts, apply_event
    from reconciler.notify.settings import EVENTS, Event, NotifyEntry

_WHERE = {
    "EVENTS": "reconciler.notify.settings",
    "Event": "reconciler.notify.settings",
    "NotifyEntry": "reconciler.notify.settings",
    "INSTALL": "reconciler.notify.deliver",
    "TIMEOUT": "reconciler.notify.deliver",
    "Delivery": "reconciler.notify.deliver",
    "available": "reconciler.notify.deliver",
    "register_urls": "reconciler.notify.deliver",
    "send": "reconciler.notify.deliver",
    "wanted": "reconciler.notify.deliver",
    "Outcome": "reconciler.notify.events",
    "apply_counts": "reconciler.notify.events",
    "apply_event": "reconciler.notify.events",
    "PULL_REQUEST_VARIABLE": "reconciler.notify.context",
    "RunContext": "reconciler.notify.context",
}

__all__ = [
    "EVENTS",
    "INSTALL",
    "PULL_REQUEST_VARIABLE",
    "TIMEOUT",
    "Delivery",
    "Event",
    "NotifyEntry",
    "Outcome",
    "RunContext",
    "apply_counts",
    "apply_event",
    "available",
    "register_urls",
    "send",
    "wanted",
]

__getattr__ = lazy_names(__name__, _WHERE)
