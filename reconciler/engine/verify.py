"""Reading back what an apply changed (SPEC 2, Verification). A `200` from Redox means the
request was received, not that the directory shows it: each record Redox accepted is queried
(the kind's look-up, through the apply's own client and rate limit) and compared with what was
applied, by the rule drift uses (views.drift.differs: every field that was sent and that a
query returns). A record that does not show its change yet is asked for again, with backoff,
until `timeout` has passed since its first read.

The ledger carries the outcome: the applier records each change marked unverified, and the
mark is cleared once the directory is seen to hold it, so a run that is interrupted, or killed,
leaves exactly the records it did not see marked (`reconciler verify` checks them later).

Normalisation: Redox documents none for a query's answer today. A query adds nested keys of its
own (`Type.System`, `PartOf.Identifier.Type`) that no field we send holds: `Kind.comparable`
leaves those out. Any other difference is reported, never hidden.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from reconciler.engine.applier import Applier
from reconciler.engine.lookup import Paced
from reconciler.engine.result import Unverified, Verification
from reconciler.engine.stopping import Stopped, until_stopped
from reconciler.errors import RedoxError
from reconciler.kinds import kind_of
from reconciler.ledger.model import Entry
from reconciler.model import Environment, Key
from reconciler.redox.api import RedoxApi
from reconciler.views.drift import differs

log = logging.getLogger(__name__)

Settled = Callable[[Key, Unverified | None], None]
# The first wait before asking again, and the longest: a change that shows within a second is
# seen within a second, one that takes minutes costs a query every LONGEST_WAIT seconds.
FIRST_WAIT = 0.5
LONGEST_WAIT = 10.0


async def read_back(
    api: RedoxApi,
    entries: Mapping[Key, Entry],
    *,
    env: Environment,
    concurrency: int,
    timeout: float = 0.0,
    rate: float | None = None,
    settled: Settled = lambda key, unverified: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[Key, Unverified | None]:
    """Query the directory for each entry and compare: None for a record it shows as the entry
    says, else how it differs. A record that does not show it is asked for again with backoff
    until `timeout` seconds after its first read (0: read once). At most `concurrency` queries
    are in flight, and with `rate` at most that many a second; `settled` hears of each record
    as soon as it is decided."""
    if rate is not None:
        api = Paced(api, rate)
    gate = asyncio.Semaphore(concurrency)

    async def one(key: Key, entry: Entry) -> Unverified | None:
        kind = kind_of(entry.kind)
        deadline: float | None = None
        wait = FIRST_WAIT
        while True:
            async with gate:
                deadline = clock() + timeout if deadline is None else deadline
                try:
                    found = await kind.look_up(
                        api, entry.identity, envelope=entry.envelope, like=entry.payload, env=env
                    )
                except RedoxError as exc:
                    outcome: Unverified | None = Unverified(key, error=str(exc))
                else:
                    drift = differs(key, entry, found)
                    outcome = Unverified(key, drift=drift) if drift is not None else None
            left = deadline - clock()
            if outcome is None or left <= 0:
                settled(key, outcome)
                return outcome
            log.debug("%s: not shown as applied yet; asking again in %.1fs", key, min(wait, left))
            await sleep(min(wait, left))
            wait = min(wait * 2, LONGEST_WAIT)

    keys = list(entries)
    found = await asyncio.gather(*(one(key, entries[key]) for key in keys))
    return dict(zip(keys, found, strict=True))


async def verify_applied(applier: Applier, *, enabled: bool, timeout: float) -> Verification:
    """Read back every record the applier's run wrote (`result.written`), at its own rate and
    concurrency, clearing each one's unverified mark as the directory shows it; the ledger is
    flushed after. An interrupted run reads nothing back: its records stay unverified. Stopped
    (a signal) while reading, the records not yet seen stay unverified and the result is marked
    interrupted."""
    result, writer = applier.result, applier.writer
    due = list(result.written)
    if not enabled:
        return Verification("off", checked=len(due))
    if result.interrupted or applier.stopped:
        return Verification("stopped", checked=len(due), left=len(due), timeout=timeout)
    if not due:
        return Verification("done", timeout=timeout)
    started = time.monotonic()
    seen: dict[Key, Unverified | None] = {}

    def settled(key: Key, unverified: Unverified | None) -> None:
        seen[key] = unverified
        if unverified is None:
            writer.update(lambda ledger: ledger.with_verified(key, True))

    entries = {key: writer.state.records[key] for key in due}
    log.info("reading back %d record(s) the apply changed", len(due))
    reading = read_back(
        applier.api,
        entries,
        env=applier.env,
        concurrency=applier.concurrency,
        timeout=timeout,
        settled=settled,
    )
    stopped = False
    try:
        await until_stopped(applier.stop, reading)
    except Stopped:
        stopped = result.interrupted = True
    await writer.flush()
    result.ledger = writer.state
    if result.elapsed is not None:
        result.elapsed += time.monotonic() - started
    unverified = tuple(u for key in due if (u := seen.get(key)) is not None)
    left = sum(1 for key in due if key not in seen)
    state: Literal["done", "stopped"] = "stopped" if stopped else "done"
    return Verification(state, len(due), unverified, left=left, timeout=timeout)
