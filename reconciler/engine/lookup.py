"""Asking the directory what it holds: one query per record, a bounded number at a time. Apply
(settling an interrupted run's calls), drift, `--refresh` and import all look up this way;
drift, `--refresh` and import at a share of the rate limit (drift.rate_share), leaving the
rest of the API budget to the vendor's live traffic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.kinds import kind_of
from reconciler.ledger.model import Ledger
from reconciler.model import Environment, Key
from reconciler.redox.api import RedoxApi

Found = dict[str, Any] | None  # the directory's record, or None when it has none


@dataclass(frozen=True)
class Wanted:
    """One record to look up: `like` is a payload of it (what was or will be sent), if any."""

    kind: str
    identity: str
    envelope: dict[str, Any]
    like: dict[str, Any] | None = None


class Paced:
    """A RedoxApi that sends at most `rate` requests a second, evenly spaced, through `api`
    (which keeps its own, higher, limit)."""

    def __init__(
        self,
        api: RedoxApi,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._api = api
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self._clock()
        # Reserved without an await in between: concurrent senders get distinct slots.
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)
        return await self._api.send(body)


async def look_up_all(
    api: RedoxApi,
    wanted: Sequence[Wanted],
    *,
    env: Environment,
    concurrency: int,
    rate: float | None = None,
) -> list[Found]:
    """The directory's record of each of `wanted`, in order; at most `concurrency` queries in
    flight (the client keeps within its rate limit) and, with `rate`, at most that many
    requests a second."""
    if rate is not None:
        api = Paced(api, rate)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Wanted) -> Found:
        async with gate:
            return await kind_of(item.kind).look_up(
                api, item.identity, envelope=item.envelope, like=item.like, env=env
            )

    return list(await asyncio.gather(*(one(item) for item in wanted)))


async def look_up_ledger(
    api: RedoxApi,
    ledger: Ledger,
    *,
    env: Environment,
    concurrency: int,
    rate: float | None = None,
) -> dict[Key, Found]:
    """The directory's record of every ledgered record, by key."""
    keys = sorted(ledger.records)
    entries = [ledger.records[key] for key in keys]
    wanted = [Wanted(e.kind, e.identity, e.envelope, e.payload) for e in entries]
    found = await look_up_all(api, wanted, env=env, concurrency=concurrency, rate=rate)
    return dict(zip(keys, found, strict=True))
