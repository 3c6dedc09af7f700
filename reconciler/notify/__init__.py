"""Notifications (SPEC 5): each `notify` entry of reconciler.yaml names an environment variable
holding an apprise URL (Slack, Teams, email, a JSON webhook, ...), the events it wants and the
environments they come from. `send` posts one event to every entry that wants it, within five
seconds, and only ever warns. apprise is an optional extra (`redox-reconciler[notify]`),
imported only when a message is sent."""

from __future__ import annotations

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
