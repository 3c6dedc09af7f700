"""The rows of the stat index (stat_index.py): how a file's stat, a record and a payload are
kept in its tables, and the checksums that tell a damaged row (CRC-32: against damage, not
forgery; whoever can write the index can compute them)."""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any, NamedTuple

from reconciler.model import Loaded
from reconciler.records.walk import Stat

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " stat BLOB NOT NULL, trusted INTEGER NOT NULL, raw TEXT NOT NULL, checksum INTEGER NOT NULL)",
    # A record's parts that many records share (envelope, depends_on, lines) are JSON texts
    # equal across them, read once each; cross: the values the checks across files read.
    "CREATE TABLE IF NOT EXISTS records (salt TEXT NOT NULL, kind TEXT NOT NULL,"
    " raw TEXT NOT NULL, identity TEXT NOT NULL, active INTEGER NOT NULL,"
    " wire_digest TEXT NOT NULL, envelope TEXT NOT NULL, depends_on TEXT NOT NULL,"
    " cross TEXT NOT NULL, lines TEXT NOT NULL, checksum INTEGER NOT NULL,"
    " PRIMARY KEY (salt, kind, raw))",
    # Apart, so that the records read by every plan stay small on disk (a few pages).
    "CREATE TABLE IF NOT EXISTS payloads (salt TEXT NOT NULL, kind TEXT NOT NULL,"
    " raw TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (salt, kind, raw))",
)
RECORD = "identity, active, wire_digest, envelope, depends_on, cross, lines, checksum"


class Record(NamedTuple):
    """A record as the index holds it (the columns of _RECORD)."""

    identity: str
    active: int
    wire_digest: str
    envelope: str
    depends_on: str
    cross: str
    lines: str
    checksum: int


class Row(NamedTuple):
    """A file as the index holds it."""

    kind: str
    stat: Stat
    trusted: int
    raw: str
    checksum: int

    def intact(self, path: str) -> bool:
        return self.checksum == file_checksum(path, self.kind, self.stat, self.trusted, self.raw)


def raw_hash(raw: bytes) -> str:
    """The hash that names a file's bytes in the index."""
    return hashlib.sha256(raw).hexdigest()


def same(row: Row | None, kind: str, stat: Stat, trusted: int, raw: str) -> bool:
    return (
        row is not None
        and row.kind == kind
        and row.stat == stat
        and row.trusted == trusted
        and row.raw == raw
    )


def file_checksum(path: str, kind: str, stat: Stat, trusted: int, raw: str) -> int:
    # Against damage, not forgery (whoever can write the index can compute it): CRC-32.
    return zlib.crc32(stat, zlib.crc32(f"{path}\0{kind}\0{trusted}\0{raw}".encode()))


def record_checksum(salt: str, kind: str, raw: str, record: Record | tuple[Any, ...]) -> int:
    parts = (salt, kind, raw, *record[:7])
    return zlib.crc32("\0".join(map(str, parts)).encode())


# json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")), its encoder
# built once rather than on each of the four calls per record a cold plan makes.
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def record_of(
    salt: str, kind: str, raw: str, loaded: Loaded, shared: dict[int, str] | None = None
) -> Record | None:
    """The columns a record is kept as; None for one JSON cannot hold as it is (a payload goes
    with it only when it has a record: see _payloads). `shared`: the JSON of the envelopes and
    line maps encoded so far, by id (many records share one object of each); the caller keeps
    those objects alive while it uses it."""
    desired = loaded.desired
    if desired is None:
        return None
    memo = {} if shared is None else shared
    try:
        envelope = memo.get(id(desired.envelope))
        if envelope is None:
            envelope = memo[id(desired.envelope)] = _COMPACT(desired.envelope)
        lines = memo.get(id(loaded.lines))
        if lines is None:
            lines = memo[id(loaded.lines)] = _COMPACT(loaded.lines)
        depends_on, cross = _COMPACT(desired.depends_on), _COMPACT(loaded.cross_values)
    except (TypeError, ValueError):  # a value JSON cannot hold: the file is read each time
        return None
    identity, active, digest = desired.identity, int(desired.active), desired.wire_digest
    record = Record(identity, active, digest, envelope, depends_on, cross, lines, 0)
    return record._replace(checksum=record_checksum(salt, kind, raw, record))


_SHARED_LINES: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}


def shared_lines(lines: dict[str, int]) -> dict[str, int]:
    """One mapping for equal line maps: most files put the cross keys on the same lines."""
    try:
        return _SHARED_LINES.setdefault(tuple(lines.items()), lines)
    except TypeError:
        return lines
