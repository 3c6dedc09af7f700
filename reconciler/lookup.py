"""Asking the directory what it holds: one query per record, a bounded number at a time. Apply
(settling an interrupted run's calls), drift, `--refresh` and import all look up this way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.kinds import kind_of
from reconciler.ledger import Ledger
from reconciler.model import Environment, Key
from reconciler.redox_api import RedoxApi

Found = dict[str, Any] | None  # the directory's record, or None when it has none


@dataclass(frozen=True)
class Wanted:
    """One record to look up: `like` is a payload of it (what was or will be sent), if any."""

    kind: str
    identity: str
    envelope: dict[str, Any]
    like: dict[str, Any] | None = None


async def look_up_all(
    api: RedoxApi, wanted: Sequence[Wanted], *, env: Environment, concurrency: int
) -> list[Found]:
    """The directory's record of each of `wanted`, in order; at most `concurrency` queries in
    flight (the client keeps within its rate limit)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Wanted) -> Found:
        async with gate:
            return await kind_of(item.kind).look_up(
                api, item.identity, envelope=item.envelope, like=item.like, env=env
            )

    return list(await asyncio.gather(*(one(item) for item in wanted)))


async def look_up_ledger(
    api: RedoxApi, ledger: Ledger, *, env: Environment, concurrency: int
) -> dict[Key, Found]:
    """The directory's record of every ledgered record, by key."""
    keys = sorted(ledger.records)
    entries = [ledger.records[key] for key in keys]
    wanted = [Wanted(e.kind, e.identity, e.envelope, e.payload) for e in entries]
    found = await look_up_all(api, wanted, env=env, concurrency=concurrency)
    return dict(zip(keys, found, strict=True))
