"""The verify use case (SPEC 2, Verification): read back the records whose last apply the
directory has not been seen to show (or, with `every`, every ledgered record), compare them with
the ledger, and mark each one in the ledger as the directory shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.reconcile.observe import lookup_rate
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import RedoxApi

if TYPE_CHECKING:
    from reconciler.engine.result import Unverified, Verification
    from reconciler.model import Key


@dataclass(frozen=True)
class Checked:
    """What `verify` found in an environment: `every` ledgered record, or the unverified ones."""

    environment: str
    every: bool
    verification: Verification


async def verify(ws: Workspace, api: RedoxApi, *, every: bool = False, concurrency: int) -> Checked:
    """Read each record back once, at the look-ups' share of the rate limit (drift.rate_share),
    clear the unverified mark of those the directory shows as applied and set it on the others.
    The ledger is written only when a mark changed. The caller holds the environment's lock."""
    from reconciler.engine.result import Verification
    from reconciler.engine.verify import read_back

    writer = ws.ledger_store.recover()
    ledger = writer.state
    keys = sorted(ledger.records) if every else ledger.unverified()

    def settled(key: Key, unverified: Unverified | None) -> None:
        writer.update(lambda current: current.with_verified(key, unverified is None))

    found = await read_back(
        api,
        {key: ledger.records[key] for key in keys},
        env=ws.environment,
        concurrency=concurrency,
        rate=lookup_rate(ws),
        settled=settled,
    )
    await writer.flush()
    unverified = tuple(u for key in keys if (u := found[key]) is not None)
    return Checked(ws.env_name, every, Verification("done", len(keys), unverified))
