"""Sending one event to every `notify` entry that wants it, through apprise.

What a notification must never do: change the exit code, hold the apply's lock, or show its
URL. So an unset variable, a URL apprise cannot read, a failed delivery and a missing apprise
are each one warning (logged; the CLI prints it on stderr, masked), and delivery runs in
threads given `TIMEOUT` seconds in all: apprise's own socket and call timeouts are set below
that, and whatever is still running then is left behind (a daemon thread) with a warning.

Each URL is registered as a secret (formats.redact) before apprise sees it, and so are the
parts of it that carry tokens (a webhook's path, a password, a token-like host or segment):
apprise and urllib3 log the URL they post to in their own form, which the whole URL would not
match. apprise is imported only when a message is sent."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import logging
import re
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from reconciler.formats import redact
from reconciler.notify.context import RunContext
from reconciler.notify.settings import Event, NotifyEntry

logger = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds for every delivery of one event together
INSTALL = "pip install 'redox-reconciler[notify]'"
# apprise's call timeout ends this much before ours (so it can say why), and before its socket
# timeouts (so a receiver that never answers is reported as that, not as a broken connection).
_MARGIN = 0.25

Status = Literal["sent", "failed", "timeout", "unset", "invalid", "unavailable"]


@dataclass(frozen=True)
class Delivery:
    """What became of one event for one URL variable."""

    url_env: str
    status: Status
    reason: str = ""

    @property
    def sent(self) -> bool:
        return self.status == "sent"


def available() -> bool:
    """Whether apprise is installed (without importing it)."""
    return importlib.util.find_spec("apprise") is not None


def wanted(entries: Sequence[NotifyEntry], event: str, environment: str) -> list[NotifyEntry]:
    """The entries that want `event` from `environment`, one per URL variable."""
    chosen: dict[str, NotifyEntry] = {}
    for entry in entries:
        if entry.wants(event, environment):
            chosen.setdefault(entry.url_env, entry)
    return list(chosen.values())


# -- secrets ----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,]+")  # apprise takes several URLs in one value


def _token_like(text: str) -> bool:
    """A piece of a URL that may be a credential: long enough to mask, and not a plain word
    (a webhook token has digits or mixed case; `services` or `webhookb2` alone is no secret)."""
    if len(text) < redact.MIN_LENGTH:
        return False
    return any(c.isdigit() for c in text) or (text.lower() != text and text.upper() != text)


def secret_parts(value: str) -> list[str]:
    """The value and the pieces of each URL in it that may carry a credential."""
    parts = [value, value.strip()]
    for url in (u for u in _SEPARATORS.split(value) if u):
        parts.append(url)
        try:
            split = urllib.parse.urlsplit(url)
            password = split.password
            username = split.username
            host = split.hostname or ""
        except ValueError:
            continue
        parts += [p for p in (password, split.path, split.query) if p]
        if username and password:
            parts.append(f"{username}:{password}")
        # A token may be the host (slack://TokenA/..., tgram://123:ABC/...), colon and all.
        place = split.netloc.rpartition("@")[2]
        for piece in (host, place):
            if piece and "." not in piece and not _is_address(piece) and _token_like(piece):
                parts.append(piece)
        segments = [s for s in split.path.split("/") if s]
        segments += [v for _, v in urllib.parse.parse_qsl(split.query)]
        parts += [urllib.parse.unquote(s) for s in segments if _token_like(s)]
        parts += [s for s in segments if _token_like(s)]
    return parts


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def register_urls(entries: Sequence[NotifyEntry], environ: Mapping[str, str]) -> None:
    """Mask the URL of every entry (and its token-carrying parts) from now on."""
    for entry in entries:
        value = environ.get(entry.url_env)
        if value:
            for part in secret_parts(value):
                redact.register(part)


# -- sending ----------------------------------------------------------------------------------


def send(
    entries: Sequence[NotifyEntry],
    *,
    event: Event,
    environment: str,
    counts: Mapping[str, int],
    context: RunContext,
    environ: Mapping[str, str],
    detail: str = "",
    timeout: float = TIMEOUT,
) -> list[Delivery]:
    """Send `event` of `environment` to every entry that wants it, within `timeout` seconds in
    all. Never raises for a delivery: each problem is a logged warning and a Delivery."""
    chosen = wanted(entries, event, environment)
    if not chosen:
        return []
    register_urls(chosen, environ)
    if not available():
        names = ", ".join(e.url_env for e in chosen)
        logger.warning(
            "Warning: %s was not notified (to %s): notify is set in reconciler.yaml but apprise "
            "is not installed. Install it with: %s",
            event,
            names,
            INSTALL,
        )
        return [Delivery(e.url_env, "unavailable", "apprise is not installed") for e in chosen]
    from reconciler.render.notify import render_notification

    message = render_notification(
        event, environment=environment, counts=counts, context=context, detail=detail
    )
    values = {e.url_env: (environ.get(e.url_env) or "").strip() for e in chosen}
    apprise = _apprise() if any(values.values()) else None
    results: dict[str, Delivery] = {}
    running: list[_Sending] = []
    for entry in chosen:
        value = values[entry.url_env]
        if not value or apprise is None:
            results[entry.url_env] = Delivery(
                entry.url_env, "unset", f"the environment variable {entry.url_env} is not set"
            )
            continue
        notifier = _notifier(apprise, value, timeout)
        if notifier is None:
            results[entry.url_env] = _unreadable(entry.url_env, value)
            continue
        running.append(_Sending(notifier, entry.url_env, message.title, message.body, timeout))
    # The budget is the network's: apprise's import and its URL parsing are local, and done.
    deadline = time.monotonic() + timeout
    for sending in running:
        sending.start()
    for sending in running:
        sending.join(max(0.0, deadline - time.monotonic()))
        results[sending.url_env] = sending.delivery(timeout)
    ordered = [results[e.url_env] for e in chosen]
    for delivery in ordered:
        _log(event, delivery)
    return ordered


def _log(event: str, delivery: Delivery) -> None:
    if delivery.sent:
        logger.info("Notified %s of %s.", delivery.url_env, event)
    elif delivery.status == "unset":
        logger.warning(
            "Warning: %s was not notified: %s (or is empty). Give it the notification URL, "
            "or remove that notify entry from reconciler.yaml.",
            event,
            delivery.reason,
        )
    else:
        logger.warning(
            "Warning: the notification of %s to %s failed: %s",
            event,
            delivery.url_env,
            delivery.reason,
        )


class _Sending(threading.Thread):
    """One URL variable's delivery, in a daemon thread: a webhook that never answers must not
    keep the process (or the lock) waiting."""

    def __init__(self, notifier: Any, url_env: str, title: str, body: str, timeout: float) -> None:
        super().__init__(name=f"notify-{url_env}", daemon=True)
        self.url_env = url_env
        self._notifier = notifier
        self._title = title
        self._body = body
        self._timeout = timeout
        self._outcome: Delivery | None = None

    def run(self) -> None:
        try:
            self._outcome = _deliver(
                self._notifier, self.url_env, self._title, self._body, self._timeout
            )
        except Exception as exc:  # a delivery never stops the command: say it, and go on
            reason = redact.redact(f"{type(exc).__name__}: {exc}")
            self._outcome = Delivery(self.url_env, "failed", f"apprise failed ({reason})")

    def delivery(self, timeout: float) -> Delivery:
        if self._outcome is None:
            return Delivery(
                self.url_env,
                "timeout",
                f"no answer within {timeout:g} s; it was not waited for any longer",
            )
        return self._outcome


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # apprise loads modules Python deprecates (imghdr) as it loads its plugins: not ours to
    # report, nor an error. Warnings filters are process-wide: this runs in the main thread.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _apprise() -> ModuleType:
    """apprise, imported when a message is to be sent (validate and plan never pay for it)."""
    # apprise logs through its own logger what it also hands back in the result: the result
    # is what is reported (once, masked), so its logger is kept from the terminal.
    logging.getLogger("apprise").propagate = False
    with _quiet():
        import apprise
    return apprise


def _notifier(apprise: ModuleType, urls: str, timeout: float) -> Any:
    """An apprise.Apprise of the URLs in `urls`, with socket timeouts within `timeout`; None
    when apprise cannot read one of them."""
    with _quiet():
        asset = apprise.AppriseAsset(async_mode=False, storage_mode="memory")
        notifier = apprise.Apprise(asset=asset)
        if not notifier.add(urls) or len(notifier) == 0:
            return None
    for service in notifier:
        service.socket_connect_timeout = timeout
        service.socket_read_timeout = timeout
    return notifier


def _unreadable(url_env: str, urls: str) -> Delivery:
    schemes = sorted({u.split("://", 1)[0] for u in _SEPARATORS.split(urls) if "://" in u})
    named = f" (scheme {', '.join(schemes)})" if schemes else ""
    return Delivery(
        url_env,
        "invalid",
        f"{url_env} holds a URL that apprise does not understand{named}: see "
        "https://github.com/caronc/apprise/wiki for the form of each service's URL",
    )


def _deliver(notifier: Any, url_env: str, title: str, body: str, timeout: float) -> Delivery:
    budget = max(0.5, timeout - _MARGIN)
    result = notifier.notify(body=body, title=title, timeout=budget)
    if result:
        return Delivery(url_env, "sent")
    said = [
        redact.redact(entry.message)
        for entry in result.logs()
        if str(entry.level) in {"WARNING", "ERROR", "CRITICAL"}
    ]
    state = getattr(result.status, "name", str(result.status))
    status: Status = "timeout" if state == "TIMEOUT" else "failed"
    reason = "; ".join(dict.fromkeys(said)) or f"apprise reported {state}"
    if status == "timeout":
        reason = f"no answer within {timeout:g} s"
    return Delivery(url_env, status, reason)
