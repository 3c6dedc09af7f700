"""The per-environment ledger: what was last applied, read and written atomically, under a lock.

Format (version 1): {"version", "environment", "lineage", "serial", "records", "intents"},
JSON with sorted keys, two-space indent and a final newline. `records` maps a record key
("organization:<oid>") to its last-applied payload; `intents` maps a key to a call that was
started but whose outcome is not yet known (a crash between the call and the ledger write).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from reconciler.errors import LedgerError, LockHeld
from reconciler.jsontext import Rendered, digest, pretty_json, rendered, without_gc
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


@without_gc
def load(path: Path, environment: str, *, shown: str | None = None) -> Ledger:
    """The ledger at `path`; an empty one (no lineage yet) when the file does not exist.
    Problems name the file as `shown` (e.g. relative to the repository) when given."""
    name = shown or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Ledger.new(environment)
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {name}: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LedgerError(
            f"the ledger {name} is corrupt ({exc}). It is written only by reconciler: restore it "
            "from git (git checkout -- <file>) rather than editing it"
        ) from None
    if not isinstance(doc, dict) or "version" not in doc:
        raise LedgerError(f"the ledger {name} is not a reconciler ledger (no version)")
    if doc["version"] != VERSION:
        raise LedgerError(
            f"the ledger {name} has format version {doc['version']!r}; this reconciler reads "
            f"version {VERSION}: upgrade redox-reconciler"
        )
    try:
        parsed = LedgerFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LedgerError(
            f"the ledger {name} is corrupt ({where}: {first['msg']}). Restore it from git"
        ) from None
    if parsed.environment != environment:
        raise LedgerError(
            f"the ledger {name} belongs to environment {parsed.environment!r}, not "
            f"{environment!r}: check the ledger paths in reconciler.yaml"
        )
    return Ledger(
        environment=parsed.environment,
        lineage=parsed.lineage,
        serial=parsed.serial,
        records=dict(parsed.records),
        intents=dict(parsed.intents),
    )


def save(path: Path, ledger: Ledger) -> Ledger:
    """Write `ledger` with serial + 1, atomically: a reader sees the old file or the new one."""
    saved = replace(ledger, serial=ledger.serial + 1, lineage=ledger.lineage or str(uuid.uuid4()))
    atomic_write(path, saved.to_json())
    return saved


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Temporary file in the same folder, fsync, rename, fsync the folder. `text` may come in
    pieces, so a large document is never held whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def lock(path: Path, *, purpose: str = "apply") -> Iterator[None]:
    """Hold the lock at `path` (an OS lock: a dead holder releases it) or fail at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_held_message(path)) from None
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": now(),
            "purpose": purpose,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _held_message(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        holder = {}
    who = (
        f"{holder.get('purpose', 'apply')} on host {holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
    )
    return (
        f"another {who} holds the lock {path}: wait for it to finish. The lock is released "
        "when that process exits, even if it is killed."
    )
