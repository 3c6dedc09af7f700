"""import: adopt records that already exist in the directory into the ledger, never sending a
New. A record whose files match the directory's copy is adopted as the files say, so the next
plan is empty; one that differs is adopted as the directory holds it, so the plan updates it.
Pure: the queries are lookup's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.kinds import kind_of
from reconciler.ledger.model import Entry, Ledger, make_entry
from reconciler.model import Desired, Environment, Key, Kind, split_key

# ledgered: in the ledger, with a file. unfiled: in the ledger, no file (and no --write-yaml).
# restored: in the ledger, no file: one was written from the last applied payload.
Status = Literal["adopted", "differs", "absent", "ledgered", "unfiled", "restored"]


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
    note: str = ""  # what the reader must know of it (a file that cannot say it all)


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


_ABSENT: Any = object()


def from_ledger(key: Key, entries: Mapping[str, Entry], *, env: str, wanted_file: bool) -> Adoption:
    """A ledgered record that no file holds: with `wanted_file`, the YAML of its last applied
    payload (`entries`: its entry in each environment's ledger that has it, `env`'s among them);
    a field the kind lets a file give per environment becomes a mapping when they differ."""
    entry = entries[env]
    kind = kind_of(entry.kind)
    if not wanted_file:
        return Adoption(key, entry.kind, entry.identity, "unfiled", entry.envelope, None)
    doc = kind.to_yaml(entry.payload, entry.envelope)
    for field_name, yaml_key in kind.per_environment.items():
        values = {name: e.payload.get(field_name, _ABSENT) for name, e in sorted(entries.items())}
        if len({repr(v) for v in values.values()}) > 1:
            doc[yaml_key] = {name: v for name, v in values.items() if v is not _ABSENT}
    # Re-dumped through the model so the file's keys follow the documented order.
    record = kind.model.model_validate(doc)
    doc = record.model_dump(mode="json", exclude_unset=True, by_alias=False)
    return Adoption(
        key,
        entry.kind,
        entry.identity,
        "restored",
        entry.envelope,
        entry.payload,
        entry.source,
        doc,
    )


def record(ledger: Ledger, adoptions: Iterable[Adoption], *, commit: str | None) -> Ledger:
    """The ledger with every adopted record in it, and the new file of each restored one."""
    for a in adoptions:
        if a.status == "restored" and a.key in ledger.records:
            kept = ledger.records[a.key].model_dump()
            ledger = ledger.with_entry(a.key, Entry(**{**kept, "source": a.source}))
            continue
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
