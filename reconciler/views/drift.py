"""Drift: what the directory holds for each ledgered record, compared with what was applied.
Pure: the queries are lookup's."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.kinds import kind_of
from reconciler.ledger.model import Entry, Ledger, entry_digest
from reconciler.model import Key
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
    name: str = ""  # the record's name as last applied
    applied_at: str = ""  # when it was last applied (the ledger's time)


@dataclass(frozen=True)
class Tracked:
    """A drifted record as the drift issue keeps it: found drifting since `found_at`, and so
    at `checked_at`, the last check that queried it (a rotating check queries a part a day)."""

    drift: Drift
    found_at: str
    checked_at: str


@dataclass(frozen=True)
class Part:
    """The share of the ledger one drift run checks (SPEC 2, "Drift cost"): part `index`
    (0-based) of `parts`, chosen by the UTC day, so every record is checked once every
    `parts` days."""

    index: int
    parts: int

    @classmethod
    def of_day(cls, parts: int, day: int | None = None) -> Part:
        """Today's part (or that of `day`, a UTC day number: days since 1970-01-01)."""
        if day is None:
            day = (datetime.now(UTC).date() - datetime(1970, 1, 1, tzinfo=UTC).date()).days
        return cls(day % parts, parts)

    def holds(self, identity: str) -> bool:
        """Whether the record of `identity` is in this part: a stable hash of the identity,
        the same on every machine and every run."""
        if self.parts == 1:
            return True
        number = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
        return number % self.parts == self.index

    def of(self, ledger: Ledger) -> Ledger:
        """The ledger with only the records of this part."""
        if self.parts == 1:
            return ledger
        kept = {k: e for k, e in ledger.records.items() if self.holds(e.identity)}
        return replace(ledger, records=kept)


def compare(ledger: Ledger, seen: dict[Key, dict[str, Any] | None]) -> list[Drift]:
    """Every ledgered record that the directory holds otherwise, sorted by key."""
    drifts = (differs(key, ledger.records[key], seen[key]) for key in sorted(seen))
    return [d for d in drifts if d is not None]


def differs(key: Key, entry: Entry, found: dict[str, Any] | None) -> Drift | None:
    """How the directory's record (`found`, None: it has none) differs from the ledger's entry,
    field by field over what a query returns; None when it holds the entry as applied. Drift
    and the read-back after an apply (engine.verify) judge by this one rule."""
    kind = kind_of(entry.kind)
    name = kind.display_name(entry.payload, entry.identity)
    if found is None:
        return Drift(
            key,
            entry.kind,
            entry.identity,
            Finding.MISSING,
            entry.source,
            name=name,
            applied_at=entry.applied_at,
        )
    ours = kind.queryable(entry.payload)
    theirs = kind.comparable(found, entry.payload)
    if ours == theirs:
        return None
    was, now = kind.is_active(entry.payload), kind.is_active(theirs)
    if was and not now:
        finding = Finding.DEACTIVATED
    elif now and not was:
        finding = Finding.REACTIVATED
    else:
        finding = Finding.DIFFERENT
    fields = field_changes(ours, theirs, identities=kind.list_identities)
    return Drift(
        key,
        entry.kind,
        entry.identity,
        finding,
        entry.source,
        fields,
        name=name,
        applied_at=entry.applied_at,
    )


def refreshed_ledger(ledger: Ledger, seen: dict[Key, dict[str, Any] | None]) -> Ledger:
    """The ledger as the directory really holds it: plan against this and apply repairs drift.
    A record the directory lacks leaves the ledger (so it is created again); fields a query
    cannot return are kept as last applied."""
    records: dict[Key, Entry] = {}
    for key, entry in ledger.records.items():
        found = seen.get(key, entry.payload)
        if found is None:
            continue
        kind = kind_of(entry.kind)
        payload = kind.held_payload(found, entry.payload)
        active = kind.is_active(payload)
        records[key] = entry.model_copy(
            update={
                "payload": payload,
                "digest": entry_digest(entry.envelope, payload),
                "status": "active" if active else "inactive",
            }
        )
    return replace(ledger, records=records)
