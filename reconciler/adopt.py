"""import: adopt records that already exist in the directory into the ledger, never sending a
New. A record whose files match the directory's copy is adopted as the files say, so the next
plan is empty; one that differs is adopted as the directory holds it, so the plan updates it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from reconciler import directory
from reconciler.directory import RedoxApi
from reconciler.kinds import kind_of
from reconciler.kinds.organization import ORGANIZATION, OrganizationKind
from reconciler.ledger import Ledger, make_entry
from reconciler.model import Desired, Environment, Key, make_key

Status = Literal["adopted", "differs", "absent", "ledgered"]


@dataclass(frozen=True)
class Adoption:
    """What import found for one record."""

    key: Key
    kind: str
    identity: str
    status: Status
    envelope: dict[str, Any]
    payload: dict[str, Any] | None = None  # what goes into the ledger
    source: str | None = None
    yaml: dict[str, Any] | None = None  # a file to write (no file holds the record yet)


async def adopt(
    api: RedoxApi,
    *,
    keys: Iterable[Key],
    desired: dict[Key, Desired],
    ledger: Ledger,
    env: Environment,
    source_id: str | None,
    concurrency: int = 8,
) -> list[Adoption]:
    """Query the directory for each key and decide what the ledger should record."""
    gate = asyncio.Semaphore(concurrency)

    async def one(key: Key) -> Adoption:
        kind_name, identity = key.split(":", 1)
        want = desired.get(key)
        envelope = want.envelope if want else {"Directory": env.directory}
        if key in ledger.records:
            return Adoption(key, kind_name, identity, "ledgered", envelope)
        async with gate:
            found = await directory.fetch(
                api,
                kind=kind_name,
                identity=identity,
                envelope=envelope,
                env=env,
                source_id=source_id,
            )
        if found is None:
            return Adoption(key, kind_name, identity, "absent", envelope)
        if want is not None:
            if directory.matches(kind_name, want.payload, found):
                return Adoption(
                    key, kind_name, identity, "adopted", envelope, want.payload, want.file
                )
            # What a query cannot return (Endpoints, DestinationID) is taken as the files say,
            # so the plan updates only what really differs.
            held = directory.as_held(kind_name, found, want.payload)
            return Adoption(key, kind_name, identity, "differs", envelope, held, want.file)
        if kind_name != ORGANIZATION:
            return Adoption(key, kind_name, identity, "absent", envelope)
        return _without_file(key, identity, envelope, found, env)

    return list(await asyncio.gather(*(one(k) for k in sorted(set(keys)))))


def _without_file(
    key: Key, identity: str, envelope: dict[str, Any], found: dict[str, Any], env: Environment
) -> Adoption:
    """A directory record that no file holds: its YAML, and the payload that YAML sends."""
    kind = OrganizationKind()
    record = kind.model.model_validate(kind.to_yaml(found, envelope))
    # Re-dumped through the model so the file's keys follow the documented order.
    doc = record.model_dump(mode="json", exclude_unset=True, by_alias=False)
    payload = kind.desired(record, doc, env, file="").payload
    if directory.matches(ORGANIZATION, payload, found):
        return Adoption(key, ORGANIZATION, identity, "adopted", envelope, payload, None, doc)
    # The YAML form cannot say everything the directory holds (an OID that is not the first
    # identifier, say): the ledger keeps what the directory holds, so the plan corrects it.
    held = directory.as_held(ORGANIZATION, found, payload)
    return Adoption(key, ORGANIZATION, identity, "differs", envelope, held, None, doc)


def record(ledger: Ledger, adoptions: Iterable[Adoption], *, commit: str | None) -> Ledger:
    """The ledger with every adopted record in it."""
    for a in adoptions:
        if a.payload is None or a.status not in {"adopted", "differs"}:
            continue
        entry = make_entry(
            kind=a.kind,
            identity=a.identity,
            envelope=a.envelope,
            payload=a.payload,
            active=kind_of(a.kind).is_active(a.payload),
            source=a.source,
            commit=commit,
        )
        ledger = ledger.with_entry(a.key, entry)
    return ledger


def oid_keys(oids: Iterable[str]) -> list[Key]:
    """Ledger keys of organization OIDs."""
    return [make_key(ORGANIZATION, oid) for oid in oids]


def file_name(name: str, taken: set[str]) -> str:
    """A file name from a record's name, unique among `taken`: `Northwind Clinic` ->
    `northwind-clinic.yaml`, then `northwind-clinic-2.yaml`."""
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "organization"
    candidate, n = f"{stem}.yaml", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.yaml"
    taken.add(candidate)
    return candidate
