"""import: adopt records that already exist in the directory into the ledger, never sending a
New. A record whose files match the directory's copy is adopted as the files say, so the next
plan is empty; one that differs is adopted as the directory holds it, so the plan updates it.
Pure: the queries are lookup's."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.kinds import kind_of
from reconciler.ledger import Ledger, make_entry
from reconciler.model import Desired, Environment, Key, Kind, split_key

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


def adoption(
    key: Key, found: dict[str, Any] | None, *, want: Desired | None, env: Environment
) -> Adoption:
    """What to record for one record that is not in the ledger, given what the directory holds
    (`found`) and what the files say (`want`)."""
    kind_name, identity = split_key(key)
    kind = kind_of(kind_name)
    envelope = want.envelope if want is not None else {"Directory": env.directory}
    if found is None:
        return Adoption(key, kind_name, identity, "absent", envelope)
    if want is not None:
        if kind.holds(found, want.payload):
            return Adoption(key, kind_name, identity, "adopted", envelope, want.payload, want.file)
        # What a query cannot return (Endpoints, DestinationID) is taken as the files say,
        # so the plan updates only what really differs.
        held = kind.held_payload(found, want.payload)
        return Adoption(key, kind_name, identity, "differs", envelope, held, want.file)
    return _without_file(kind, key, identity, envelope, found, env)


def _without_file(
    kind: Kind,
    key: Key,
    identity: str,
    envelope: dict[str, Any],
    found: dict[str, Any],
    env: Environment,
) -> Adoption:
    """A directory record that no file holds: its YAML, and the payload that YAML sends."""
    record = kind.model.model_validate(kind.to_yaml(found, envelope))
    # Re-dumped through the model so the file's keys follow the documented order.
    doc = record.model_dump(mode="json", exclude_unset=True, by_alias=False)
    payload = kind.desired(record, doc, env, file="").payload
    if kind.holds(found, payload):
        return Adoption(key, kind.name, identity, "adopted", envelope, payload, None, doc)
    # The YAML form cannot say everything the directory holds (an OID that is not the first
    # identifier, say): the ledger keeps what the directory holds, so the plan corrects it.
    held = kind.held_payload(found, payload)
    return Adoption(key, kind.name, identity, "differs", envelope, held, None, doc)


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


def file_name(name: str, taken: set[str], *, fallback: str) -> str:
    """A file name from a record's name, unique among `taken`: `Northwind Clinic` ->
    `northwind-clinic.yaml`, then `northwind-clinic-2.yaml` (`fallback` for a name with no
    letters or digits)."""
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or fallback
    candidate, n = f"{stem}.yaml", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.yaml"
    taken.add(candidate)
    return candidate
