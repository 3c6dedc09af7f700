"""The per-environment ledger's types: what was last applied, and the calls started. Pure: the
file, the lock and the atomic write are ledger_store's.

Format (version 1): {"version", "environment", "lineage", "serial", "records", "intents"},
JSON with sorted keys, two-space indent and a final newline. `records` maps a record key
("organization:<oid>") to its last-applied payload; `intents` maps a key to a call that was
started but whose outcome is not yet known (a crash between the call and the ledger write).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from reconciler.jsontext import Rendered, digest, iter_pretty_json, pretty_json, rendered
from reconciler.model import Key

VERSION = 1
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


class Entry(_Frozen):
    """One record as last applied."""

    kind: str
    identity: str
    envelope: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any]
    digest: str
    source: str | None = None
    commit: str | None = None
    applied_at: str
    status: Status


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
    records: dict[str, Entry] = Field(default_factory=dict)
    intents: dict[str, Intent] = Field(default_factory=dict)


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
) -> Entry:
    """A ledger entry for a payload that was just applied."""
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
        doc = {
            "version": VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "records": {k: e.rendered() for k, e in self.records.items()},
            "intents": {k: i.rendered() for k, i in self.intents.items()},
        }
        return doc


def _without(mapping: dict[Key, Intent], key: Key) -> dict[Key, Intent]:
    if key not in mapping:
        return mapping  # shared: dicts of a Ledger are never changed in place
    return {k: v for k, v in mapping.items() if k != key}
