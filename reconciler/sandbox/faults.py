"""The faults the sandbox can be told to inject (SPEC 4): into its answers (latency, 5xx, 429
over a rate, tokens that expire early, a reply lost after the change was committed) and into
the directory behind them (a change visible to queries only after a delay, a change answered
200 and never stored, one stored otherwise than sent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Faults:
    """Faults the sandbox injects into /endpoint (and the lifetime of the tokens it issues)."""

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    retry_after: float = 1.0
    token_lifetime: int = 300
    lose_reply_rate: float = 0.0
    # Writes about these identities are refused with Redox's 500 "duplicate business": a
    # refusal that no check of the files can foresee.
    refuse: frozenset[str] = frozenset()
    seed: int | None = None
    # Every error reply repeats the request, headers and body (as a misbehaving proxy or a debug
    # page does): the client must keep the bearer token and the assertion out of what it shows.
    echo_errors: bool = False
    # A `200` is not a listing: each accepted change shows in queries only this many seconds
    # later; writes about `never_visible` identities are answered 200 and never stored; those
    # about `store_differently` identities are stored with the name in capitals.
    visibility_delay: float = 0.0
    never_visible: frozenset[str] = frozenset()
    store_differently: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WriteFaults:
    """How the directory mishandles the writes it accepts (faults for tests): each change is
    shown to queries only `visibility_delay` seconds after it is stored; a write about an
    identity in `unstored` is answered as usual but never stored; one about an identity in
    `altered` is stored otherwise than sent (its name in capitals)."""

    visibility_delay: float = 0.0
    unstored: frozenset[str] = frozenset()
    altered: frozenset[str] = frozenset()


class Unseen:
    """What queries show while a change is not yet visible (the visibility-delay fault): for an
    identity, until when, and the record shown until then (None: none). Organizations and
    providers never share an identity (an OID is not an NPI)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._held: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def hide(self, identity: str, shown: dict[str, Any] | None, delay: float) -> None:
        """Show `shown` (what queries show now) for `delay` seconds more, instead of the change
        about to be stored; an earlier change still hidden stays hidden behind it."""
        now = self._clock()
        earlier = self._held.get(identity)
        if earlier is not None and now < earlier[0]:
            shown = earlier[1]
        self._held[identity] = (now + delay, shown)

    def show(self, identity: str) -> None:
        """Show the stored record from now on."""
        self._held.pop(identity, None)

    def shown(self, identity: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """What a query shows of a stored record."""
        held = self._held.get(identity)
        if held is None:
            return record
        if self._clock() < held[0]:
            return held[1]
        del self._held[identity]
        return record


def altered(record: dict[str, Any]) -> dict[str, Any]:
    """`record` as a directory that stores it otherwise than sent would: its name in capitals
    (an organization's Name, a provider's Demographics.LastName)."""
    if isinstance(record.get("Name"), str):
        return {**record, "Name": record["Name"].upper()}
    demographics = record.get("Demographics")
    if isinstance(demographics, dict) and isinstance(demographics.get("LastName"), str):
        shouted = {**demographics, "LastName": demographics["LastName"].upper()}
        return {**record, "Demographics": shouted}
    return record
