"""The plan cache (`.reconciler/cache/`): what reading and validating a record file gave, keyed
by the file's bytes, so a file that did not change is neither parsed nor validated again.

Key: sha256 of the code (the package's own source and each record kind's module), the
settings, the environment, the kind and the file's bytes. Value: the record's wire form
(identity, envelope, the canonical JSON of its payload, active, dependencies, digest) and what
the checks across files read of it (its cross values and the lines of their keys). Only files
without problems are kept.

Safe by construction: a key names everything the value was made of, so no change can reach
an old value; a value is read back through a strict model, must belong to the kind and identity
it is asked for, and its payload must have the digest it carries; anything else (a corrupt or
foreign entry, an unreadable database) is ignored and the file is read again. The folder holds
a `.gitignore` of `*`, so the cache is never committed; `--no-cache` bypasses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.formats.jsontext import canonical_json
from reconciler.model import Desired, Environment, Kind, Loaded, shared, shared_envelope

log = logging.getLogger(__name__)

FOLDER = ".reconciler/cache"
DATABASE = "records.sqlite3"
FORMAT = 1  # of the values: part of every key
_BATCH = 500  # keys per query (SQLite allows at least 999 parameters)
_KEEP = 4  # unused entries are dropped once the cache holds this many times the records read


class Value(BaseModel):
    """One cached record file, as read back (strictly: a damaged value is ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)

    key: str  # the key it was made for: an entry found under another one is foreign
    kind: str
    identity: str
    envelope: dict[str, Any]
    active: bool
    depends_on: list[str]
    wire_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    cross_values: dict[str, Any]
    lines: dict[str, int]


@cache
def code_digest(kind_modules: tuple[str, ...]) -> str:
    """sha256 of the package's source and of the modules that define the kinds: a value made by
    other code (another version, an edited checkout) is never used."""
    package = Path(__file__).resolve().parent
    files = set(package.rglob("*.py"))
    for name in kind_modules:
        module = sys.modules.get(name)
        found = getattr(module, "__file__", None)
        if found:
            files.add(Path(found).resolve())
    h = hashlib.sha256(f"reconciler plan cache {FORMAT}\n".encode())
    for path in sorted(files):
        h.update(f"{path.name}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


NOT_PARSING = {"policies", "approvals"}  # settings no record's parsing reads


@dataclass
class PlanCache:
    """The cache of one repository for one environment and its settings."""

    path: Path
    salt: bytes  # everything a value depends on but the file itself

    @classmethod
    def of(cls, repo: Path, env: Environment, settings: Any, kinds: Iterable[Kind]) -> PlanCache:
        """The cache of `repo` for `env` under `settings` (a pydantic model of reconciler.yaml)."""
        modules = tuple(sorted({type(kind).__module__ for kind in kinds}))
        salt = "\n".join(
            [
                code_digest(modules),
                # What a record file parses to depends on these settings, not on the rules
                # over plans or approvals: editing a policy keeps the cache.
                hashlib.sha256(settings.model_dump_json(exclude=NOT_PARSING).encode()).hexdigest(),
                canonical_json(_environment(env)),
                "",
            ]
        )
        return cls(repo / FOLDER / DATABASE, salt.encode())

    def key(self, kind: str, raw: bytes) -> str:
        """The key of a file of `kind` holding `raw`."""
        h = hashlib.sha256(self.salt)
        h.update(f"{kind}\n".encode())
        h.update(raw)
        return h.hexdigest()

    # -- reading --------------------------------------------------------------------------

    def get(self, wanted: Mapping[str, Kind]) -> dict[str, Hit]:
        """The values cached under the keys of `wanted` (key -> the kind of its file) that
        can be trusted; every other key is missing from the answer."""
        if not wanted or not self.path.exists():
            return {}
        rows: list[tuple[str, str, str]] = []
        try:
            with contextlib.closing(self._connect()) as db:
                keys = list(wanted)
                for start in range(0, len(keys), _BATCH):
                    batch = keys[start : start + _BATCH]
                    marks = ",".join("?" * len(batch))
                    rows.extend(
                        db.execute(
                            f"SELECT key, value, payload FROM records WHERE key IN ({marks})",
                            batch,
                        )
                    )
        except sqlite3.Error as exc:
            log.debug("plan cache %s ignored: %s", self.path, exc)
            return {}
        found: dict[str, Hit] = {}
        for key, value, payload in rows:
            hit = _hit(key, wanted[key], value, payload) if key in wanted else None
            if hit is not None:
                found[key] = hit
        return found

    # -- writing --------------------------------------------------------------------------

    def put(self, items: Mapping[str, Loaded], *, used: Iterable[str]) -> None:
        """Keep `items` (key -> a valid record file); then, when the cache has grown well
        beyond the records read (`used`, every key of this run), drop what they did not use."""
        if not items:
            return

        def rows() -> Iterator[tuple[str, str, str]]:  # made as written: never all at once
            return (row for key, item in items.items() if (row := _row(key, item)) is not None)

        try:
            self._write(rows(), set(used))
        except sqlite3.DatabaseError as exc:
            log.debug("plan cache %s unusable (%s): starting it again", self.path, exc)
            with contextlib.suppress(OSError):
                self.path.unlink()
            with contextlib.suppress(sqlite3.Error, OSError):
                self._write(rows(), set(used))
        except (sqlite3.Error, OSError) as exc:  # busy, read-only, disk full: only slower
            log.debug("plan cache %s not written: %s", self.path, exc)

    def _write(self, rows: Iterator[tuple[str, str, str]], used: set[str]) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# reconciler's plan cache: never committed\n*\n", encoding="utf-8")
        with contextlib.closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS records "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, payload TEXT NOT NULL)"
            )
            db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", rows)
            (count,) = db.execute("SELECT count(*) FROM records").fetchone()
            if count > _KEEP * len(used) + 1000:
                stale = [k for (k,) in db.execute("SELECT key FROM records") if k not in used]
                db.executemany("DELETE FROM records WHERE key = ?", ((k,) for k in stale))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=2.0, isolation_level="DEFERRED")


def _environment(env: Environment) -> dict[str, Any]:
    """What of an environment a record's wire form may depend on."""
    return {
        "name": env.name,
        "destinations": dict(env.destinations),
        "directory": env.directory,
        "gateway_oids": sorted(env.gateway_oids),
        "external_parents": sorted(env.external_parents),
    }


def _row(key: str, item: Loaded) -> tuple[str, str, str] | None:
    desired = item.desired
    if desired is None:
        return None
    value = {
        "key": key,
        "kind": item.kind,
        "identity": desired.identity,
        "envelope": desired.envelope,
        "active": desired.active,
        "depends_on": list(desired.depends_on),
        "wire_digest": desired.wire_digest,
        "cross_values": item.cross_values,
        "lines": item.lines,
    }
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # a value JSON cannot hold as it is: not cached
        return None
    return key, text, desired.packed_payload


@dataclass(frozen=True)
class Hit:
    """A trusted cached value: the record of any file that holds these bytes."""

    value: Value
    payload: str

    def loaded(self, shown: str) -> Loaded:
        """The record as the loader reads it from the file shown as `shown`."""
        value = self.value
        desired = Desired(
            kind=value.kind,
            identity=value.identity,
            envelope=shared_envelope(value.envelope),
            packed_payload=self.payload,
            active=value.active,
            file=shown,
            depends_on=shared(tuple(value.depends_on)),
            wire_digest=value.wire_digest,
        )
        return Loaded(value.kind, shown, value.cross_values, value.lines, desired=desired)


def _hit(key: str, kind: Kind, text: str, payload: str) -> Hit | None:
    """The value cached under `key` for a file of `kind`, or None when it is not one to trust."""
    try:
        value = Value.model_validate_json(text)
    except ValidationError:
        return None
    if value.key != key or value.kind != kind.name:
        return None  # a foreign entry
    if kind.identity(value.cross_values) != value.identity:
        return None
    whole = "[" + canonical_json(value.envelope) + "," + payload + "]"
    if hashlib.sha256(whole.encode()).hexdigest() != value.wire_digest:
        return None  # a damaged payload
    return Hit(value, payload)
