"""The per-environment ledger's types: what was last applied, and the calls started. Pure: the
file, the lock and the writer are the other modules of ledger/.

Format (version 1): {"version", "environment", "lineage", "serial", "records", "intents"},
JSON with sorted keys, two-space indent and a final newline. `records` maps a record key
("organization:<oid>") to its last-applied payload; `intents` maps a key to a call that was
started but whose outcome is not yet known (a crash between the call and the ledger write).

Version 2 is version 1 in which some record is marked `"unverified": true` (Redox accepted it,
but the directory has not been seen to show it: SPEC 2, Verification). The mark is written only
when set, and the version is 2 only while some record carries it, so a ledger without marks
stays readable by a reconciler that knows only version 1, and one that does not know the mark
says "upgrade" instead of calling the file corrupt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from reconciler.formats.jsontext import Rendered, digest, iter_pretty_json, pretty_json, rendered
from reconciler.model import Key

VERSION = 1
MARKED_VERSION = 2  # version 1 with records marked unverified
VERSIONS = frozenset({VERSION, MARKED_VERSION})
Status = Literal["active", "inactive"]


class _Frozen(BaseModel):
    # defer_build: validate and plan need no ledger model built at start-up.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    _text: Rendered | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # The rendering cache is not part of what an entry is.
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # payloads are dicts: never hashable

    def rendered(self) -> Rendered:
        """This entry's JSON as the ledger file holds it, rendered once: every ledger write
        during an apply would otherwise re-render every entry."""
        if self._text is None:
            self._text = rendered(self.model_dump(), depth=2)
        return self._text


class EntryFile(BaseModel):
    """One record of the ledger file as written (what is validated when it is read back)."""

    # No private attributes: 100,000 of these are made to read a ledger, and each would cost.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: str
    identity: str
    envelope: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any]
    digest: str
    source: str | None = None
    commit: str | None = None
    applied_at: str
    status: Status
    unverified: bool = False  # written only when true


_FIELDS = ("kind", "identity", "envelope", "digest", "source", "commit", "applied_at", "status")


class InFile(Protocol):
    """Where a record's JSON is in the ledger file it was read from (ledger_text makes these)."""

    def text(self) -> Rendered:
        """The record's JSON as the file holds it (for writing the record back as it is)."""

    def value(self) -> Any:
        """The record's JSON, parsed afresh."""


class Entry:
    """One record as last applied. Read from the ledger file, it keeps where its JSON is in the
    file instead of its payload: the payload is parsed when asked for (a no-op plan of 100,000
    records asks for none), and the JSON is written back as it is (a rewrite of the ledger
    renders only the records that changed). Frozen; compared by value."""

    __slots__ = (*_FIELDS, "unverified", "_payload", "_in_file", "_text", "_parents")

    kind: str
    identity: str
    envelope: dict[str, Any]
    digest: str
    source: str | None
    commit: str | None
    applied_at: str
    status: Status
    # Redox accepted the last applied payload, but the directory has not been seen to show it.
    unverified: bool
    _payload: dict[str, Any] | None
    _in_file: InFile | None
    _text: Rendered | None
    _parents: tuple[Key, ...] | None

    def __init__(
        self,
        *,
        kind: str,
        identity: str,
        envelope: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        digest: str,
        source: str | None = None,
        commit: str | None = None,
        applied_at: str,
        status: Status,
        unverified: bool = False,
        in_file: InFile | None = None,
        parents: tuple[Key, ...] | None = None,
    ) -> None:
        if (payload is None) == (in_file is None):
            raise ValueError("an Entry holds either its payload or where it is in the ledger")
        setting = object.__setattr__
        setting(self, "kind", kind)
        setting(self, "identity", identity)
        setting(self, "envelope", envelope if envelope is not None else {})
        setting(self, "digest", digest)
        setting(self, "source", source)
        setting(self, "commit", commit)
        setting(self, "applied_at", applied_at)
        setting(self, "status", status)
        setting(self, "unverified", unverified)
        setting(self, "_payload", payload)
        setting(self, "_in_file", in_file)
        setting(self, "_text", None)
        setting(self, "_parents", parents)

    @classmethod
    def of(cls, model: EntryFile, *, in_file: InFile | None = None) -> Entry:
        """The Entry of a validated record: lean (its place in the file kept, the payload let
        go) when it was read from `in_file`."""
        lean = in_file is not None
        return cls(
            kind=model.kind,
            identity=model.identity,
            envelope=model.envelope,
            payload=None if lean else model.payload,
            digest=model.digest,
            source=model.source,
            commit=model.commit,
            applied_at=model.applied_at,
            status=model.status,
            unverified=model.unverified,
            in_file=in_file,
            parents=parents_of(model.kind, model.payload) if lean else None,
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an Entry is frozen: {name} cannot be set")

    @property
    def payload(self) -> dict[str, Any]:
        """The payload as last applied (parsed afresh from the ledger file when lean)."""
        if self._payload is not None:
            return self._payload
        assert self._in_file is not None
        payload: dict[str, Any] = self._in_file.value()["payload"]
        return payload

    @property
    def parents(self) -> tuple[Key, ...]:
        """The keys of the records this one hangs under (its kind reads them off the payload)."""
        if self._parents is None:
            object.__setattr__(self, "_parents", parents_of(self.kind, self.payload))
        assert self._parents is not None
        return self._parents

    def model_dump(self) -> dict[str, Any]:
        """The entry as the ledger file holds it."""
        dumped = {name: getattr(self, name) for name in _FIELDS}
        dumped["payload"] = self.payload
        if self.unverified:
            dumped["unverified"] = True
        return dumped

    def model_copy(self, *, update: dict[str, Any]) -> Entry:
        """The same entry with the fields of `update` changed."""
        return Entry(**{**self.model_dump(), **update})

    def rendered(self) -> Rendered:
        """This entry's JSON as the ledger file holds it: as it was read, or rendered once
        (every ledger write during an apply would otherwise render every entry again)."""
        if self._in_file is not None:
            return self._in_file.text()
        if self._text is None:
            object.__setattr__(self, "_text", rendered(self.model_dump(), depth=2))
        assert self._text is not None
        return self._text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # payloads are dicts: never hashable

    def __repr__(self) -> str:
        return f"Entry({self.kind}:{self.identity}, {self.status}, digest={self.digest[:12]})"


def parents_of(kind: str, payload: dict[str, Any]) -> tuple[Key, ...]:
    """The keys of the records a payload of `kind` hangs under."""
    from reconciler.kinds import kind_of  # here: the kinds' modules need no ledger

    return kind_of(kind).parent_keys(payload)


class Intent(_Frozen):
    """A call that was started: its outcome is resolved by querying the directory."""

    kind: str
    identity: str
    action: str
    envelope: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any]
    source: str | None = None
    started_at: str


class LedgerFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    version: int
    environment: str
    lineage: str
    serial: int = Field(ge=0)
    # Required: a ledger without them (a bad merge) must not read as one that holds nothing,
    # or the next plan would create every record again and forget what the environment holds.
    records: dict[str, EntryFile]
    intents: dict[str, Intent]


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def entry_digest(envelope: dict[str, Any], payload: dict[str, Any]) -> str:
    """The digest an entry carries: of its envelope and payload together."""
    return digest([envelope, payload])


def make_entry(
    *,
    kind: str,
    identity: str,
    envelope: dict[str, Any],
    payload: dict[str, Any],
    active: bool,
    source: str | None,
    commit: str | None,
    unverified: bool = False,
) -> Entry:
    """A ledger entry for a payload that was just applied (`unverified`: not yet seen in the
    directory)."""
    return Entry(
        kind=kind,
        identity=identity,
        envelope=envelope,
        payload=payload,
        digest=entry_digest(envelope, payload),
        source=source,
        commit=commit,
        applied_at=now(),
        status="active" if active else "inactive",
        unverified=unverified,
    )


@dataclass(frozen=True, slots=True)
class Edit:
    """One change made to a ledger, linked to the change before it: the apply journal records
    these instead of rewriting the whole ledger. `entry` recorded (settling the key's intent),
    or `intent` started, or neither: the key's intent dropped."""

    key: Key
    entry: Entry | None = None
    intent: Intent | None = None
    previous: Edit | None = None


@dataclass(frozen=True)
class Ledger:
    """An in-memory ledger; every change gives a new Ledger (serial + 1 when saved)."""

    environment: str
    lineage: str
    serial: int = 0
    records: dict[Key, Entry] = field(default_factory=dict)
    intents: dict[Key, Intent] = field(default_factory=dict)
    # The changes made through with_entry/with_intent/without_intent, newest first: what a
    # journal must append (not part of what the ledger holds).
    edits: Edit | None = field(default=None, compare=False, repr=False)

    @classmethod
    def new(cls, environment: str) -> Ledger:
        # No lineage until first saved, so a plan made before the first apply is not stale.
        return cls(environment=environment, lineage="")

    def active_count(self) -> int:
        return sum(1 for e in self.records.values() if e.status == "active")

    def unverified(self) -> list[Key]:
        """The keys of the records marked unverified, sorted."""
        return sorted(k for k, e in self.records.items() if e.unverified)

    def with_verified(self, key: Key, verified: bool) -> Ledger:
        """The ledger with the record's unverified mark cleared (`verified`) or set; itself
        when the mark is already so."""
        entry = self.records[key]
        if entry.unverified is not verified:
            return self
        return self.with_entry(key, entry.model_copy(update={"unverified": not verified}))

    def with_entry(self, key: Key, entry: Entry) -> Ledger:
        return replace(
            self,
            records={**self.records, key: entry},
            intents=_without(self.intents, key),
            edits=Edit(key, entry=entry, previous=self.edits),
        )

    def with_intent(self, key: Key, intent: Intent) -> Ledger:
        return replace(
            self,
            intents={**self.intents, key: intent},
            edits=Edit(key, intent=intent, previous=self.edits),
        )

    def without_intent(self, key: Key) -> Ledger:
        return replace(
            self, intents=_without(self.intents, key), edits=Edit(key, previous=self.edits)
        )

    def edited(self, *edits: Edit) -> Ledger:
        """This ledger with `edits` made in order, as with_entry, with_intent or without_intent
        make them, copying its records once however many there are (a journal's replay)."""
        records, intents = dict(self.records), dict(self.intents)
        for edit in edits:
            if edit.entry is not None:
                records[edit.key] = edit.entry
                intents.pop(edit.key, None)
            elif edit.intent is not None:
                intents[edit.key] = edit.intent
            else:
                intents.pop(edit.key, None)
        return replace(self, records=records, intents=intents, edits=None)

    def to_json(self) -> str:
        return pretty_json(self._document())

    def json_chunks(self) -> Iterator[str]:
        """`to_json` in pieces (one per record), so a large ledger is written without ever
        being held whole as one text."""
        yield from iter_pretty_json(self._document())
        yield "\n"

    def _document(self) -> dict[str, Any]:
        marked = any(entry.unverified for entry in self.records.values())
        doc = {
            "version": MARKED_VERSION if marked else VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "records": _Rendering(self.records),
            "intents": {k: i.rendered() for k, i in self.intents.items()},
        }
        return doc


class _Rendering(dict[Key, Any]):
    """Records whose JSON is made as each is written, not all before the first is (the text of
    100,000 records is as large as the file)."""

    def __getitem__(self, key: Key) -> Rendered:
        entry: Entry = dict.__getitem__(self, key)
        return entry.rendered()


def _without(mapping: dict[Key, Intent], key: Key) -> dict[Key, Intent]:
    if key not in mapping:
        return mapping  # shared: dicts of a Ledger are never changed in place
    return {k: v for k, v in mapping.items() if k != key}
