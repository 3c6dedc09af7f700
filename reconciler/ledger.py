"""The per-environment ledger's types: what was last applied, and the calls started. Pure: the
file, the lock and the atomic write are ledger_store's.

Format (version 1): {"version", "environment", "lineage", "serial", "records", "intents"},
JSON with sorted keys, two-space indent and a final newline. `records` maps a record key
("organization:<oid>") to its last-applied payload; `intents` maps a key to a call that was
started but whose outcome is not yet known (a crash between the call and the ledger write).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from reconciler.jsontext import Rendered, digest, pretty_json, rendered
from reconciler.model import Key

VERSION = 1
Status = Literal["active", "inactive"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
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
    model_config = ConfigDict(frozen=True, extra="forbid")

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


@dataclass(frozen=True)
class Ledger:
    """An in-memory ledger; every change gives a new Ledger (serial + 1 when saved)."""

    environment: str
    lineage: str
    serial: int = 0
    records: dict[Key, Entry] = field(default_factory=dict)
    intents: dict[Key, Intent] = field(default_factory=dict)

    @classmethod
    def new(cls, environment: str) -> Ledger:
        # No lineage until first saved, so a plan made before the first apply is not stale.
        return cls(environment=environment, lineage="")

    def active_count(self) -> int:
        return sum(1 for e in self.records.values() if e.status == "active")

    def with_entry(self, key: Key, entry: Entry) -> Ledger:
        intents = {k: v for k, v in self.intents.items() if k != key}
        return replace(self, records={**self.records, key: entry}, intents=intents)

    def with_intent(self, key: Key, intent: Intent) -> Ledger:
        return replace(self, intents={**self.intents, key: intent})

    def without_intent(self, key: Key) -> Ledger:
        return replace(self, intents={k: v for k, v in self.intents.items() if k != key})

    def to_json(self) -> str:
        doc = {
            "version": VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "records": {k: e.rendered() for k, e in self.records.items()},
            "intents": {k: i.rendered() for k, i in self.intents.items()},
        }
        return pretty_json(doc)
