"""Drift: what the directory holds for each ledgered record, compared with what was applied."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, replace
from typing import Any

from reconciler import directory
from reconciler.directory import RedoxApi
from reconciler.kinds import kind_of
from reconciler.ledger import Entry, Ledger, entry_digest
from reconciler.model import Environment, Key
from reconciler.plan import FieldChange, field_changes


class Finding(enum.Enum):
    """How a ledgered record stands in the directory."""

    MISSING = "missing"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Drift:
    """One record whose directory copy differs from what was last applied."""

    key: Key
    kind: str
    identity: str
    finding: Finding
    source: str | None
    fields: tuple[FieldChange, ...] = ()


async def observe(
    api: RedoxApi,
    ledger: Ledger,
    *,
    env: Environment,
    source_id: str | None,
    concurrency: int = 8,
) -> dict[Key, dict[str, Any] | None]:
    """The directory's copy of every ledgered record (None where it has none), queried
    concurrently within the client's rate limit."""
    gate = asyncio.Semaphore(concurrency)

    async def one(entry: Entry) -> dict[str, Any] | None:
        async with gate:
            return await directory.fetch(
                api,
                kind=entry.kind,
                identity=entry.identity,
                envelope=entry.envelope,
                env=env,
                source_id=source_id,
            )

    keys = sorted(ledger.records)
    found = await asyncio.gather(*(one(ledger.records[k]) for k in keys))
    return dict(zip(keys, found, strict=True))


def compare(ledger: Ledger, seen: dict[Key, dict[str, Any] | None]) -> list[Drift]:
    """Every ledgered record that the directory holds otherwise, sorted by key."""
    drifts: list[Drift] = []
    for key in sorted(seen):
        entry = ledger.records[key]
        found = seen[key]
        if found is None:
            drifts.append(Drift(key, entry.kind, entry.identity, Finding.MISSING, entry.source))
            continue
        ours = directory.visible(entry.kind, entry.payload)
        theirs = directory.observed(entry.kind, found, entry.payload)
        if ours == theirs:
            continue
        kind = kind_of(entry.kind)
        was, now = kind.is_active(entry.payload), kind.is_active(theirs)
        if was and not now:
            finding = Finding.DEACTIVATED
        elif now and not was:
            finding = Finding.REACTIVATED
        else:
            finding = Finding.DIFFERENT
        fields = field_changes(ours, theirs)
        drifts.append(Drift(key, entry.kind, entry.identity, finding, entry.source, fields))
    return drifts


def refreshed(ledger: Ledger, seen: dict[Key, dict[str, Any] | None]) -> Ledger:
    """The ledger as the directory really holds it: plan against this and apply repairs drift.
    A record the directory lacks leaves the ledger (so it is created again); fields a query
    cannot return are kept as last applied."""
    records: dict[Key, Entry] = {}
    for key, entry in ledger.records.items():
        found = seen.get(key, entry.payload)
        if found is None:
            continue
        payload = directory.as_held(entry.kind, found, entry.payload)
        active = kind_of(entry.kind).is_active(payload)
        records[key] = entry.model_copy(
            update={
                "payload": payload,
                "digest": entry_digest(entry.envelope, payload),
                "status": "active" if active else "inactive",
            }
        )
    return replace(ledger, records=records)
