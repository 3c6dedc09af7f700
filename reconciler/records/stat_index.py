"""The stat index (`.reconciler/cache/index.sqlite3`): what each record file held when it was last
read, so that a plan opens only the files that changed, as git's index does.

Two tables. `files`: path -> the file's stat when it was read (size, mtime_ns, ctime_ns, inode)
and the sha256 of its bytes. `records`: (salt, kind, sha256 of the bytes) -> what reading and
validating such a file gave (its wire form, what the checks across files read of it, its
payload). The salt names everything else a record is made of: the package's code, the settings,
the environment. Only files without problems have a record.

A file is not opened when its stat equals the one recorded and that one is *trusted*: its
mtime and ctime are older than the clock of the run that recorded it (the mtime of a file that
run wrote before it looked at anything, so the filesystem's own clock and granularity). Any
write to a file after that moment gives it a later ctime, so an equal stat proves that the
bytes read are the bytes there. A file modified within the clock's granularity of the run that
read it ("racy git") is recorded untrusted and read again next time. A file whose stat changed
is read; when its bytes hash to a record already held (touched, renamed, copied, switched back
by git), that record is used and the file is not parsed. Symlinks are always read.

Never truth: a value is checked against the checksum written with it, a payload against the
digest its record carries (else the file is read again), a database that cannot be read or is
of another format counts as empty. The folder holds a `.gitignore` of `*`, and the pull request
check refuses a committed `.reconciler/`; `--no-cache` neither reads nor writes the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.formats.cache import FOLDER, clock, code_digest, home
from reconciler.formats.jsontext import canonical_json
from reconciler.model import Desired, Environment, Kind, Loaded, shared, shared_envelope
from reconciler.records.index_payloads import Payloads, Reread
from reconciler.records.index_rows import (
    RECORD,
    SCHEMA,
    Record,
    Row,
    file_checksum,
    record_checksum,
    record_of,
    same,
    shared_lines,
)
from reconciler.records.walk import Stat, stat_fields

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

DATABASE = "index.sqlite3"
FORMAT = "reconciler stat index 5"


_OLD = ("records.sqlite3",)  # the plan cache before the stat index: removed on the first write
_BATCH = 500  # keys per query (SQLite allows at least 999 parameters)
_KEEP = 4  # unused records are dropped once there are this many times the files read


def _environment(env: Environment) -> dict[str, Any]:
    """What of an environment a record's wire form may depend on."""
    return {
        "name": env.name,
        "destinations": dict(env.destinations),
        "directory": env.directory,
        "gateway_oids": sorted(env.gateway_oids),
        "external_parents": sorted(env.external_parents),
    }


NOT_PARSING = {"policies", "approvals"}  # settings no record's parsing reads


@dataclass
class StatIndex:
    """The index of one repository, for one environment and its settings."""

    folder: Path
    salt: str  # everything a record depends on but the file itself

    @classmethod
    def of(cls, repo: Path, env: Environment, settings: Any, kinds: Iterable[Kind]) -> StatIndex:
        """The index of `repo` for `env` under `settings` (a pydantic model of reconciler.yaml)."""
        modules = tuple(sorted({type(kind).__module__ for kind in kinds}))
        salt = "\n".join(
            [
                code_digest(FORMAT, modules),
                # What a record file parses to depends on these settings, not on the rules
                # over plans or approvals: editing a policy keeps the index.
                hashlib.sha256(settings.model_dump_json(exclude=NOT_PARSING).encode()).hexdigest(),
                canonical_json(_environment(env)),
            ]
        )
        return cls(repo / FOLDER, hashlib.sha256(salt.encode()).hexdigest()[:32])

    @property
    def path(self) -> Path:
        return self.folder / DATABASE

    def clock(self) -> int | None:
        """The run's clock: read before the files are looked at (see the module's doc)."""
        return self._clock()

    def start(self, started: int | None, reread: Reread) -> IndexRun:
        """One run's use of the index, whose clock read `started` (`clock()`, before the walk):
        every file row with its record. `reread(kind, shown)` reads a file again (hash and
        record) when a payload the index should hold is missing or damaged."""
        import sqlite3  # here, not above: a small tree is read without the index

        run = IndexRun(self, Payloads(self._connect, self.salt, reread), started=started)
        if started is not None and self.path.exists():
            try:
                with contextlib.closing(self._connect()) as db:
                    run.load(db)
            except sqlite3.Error as exc:
                log.debug("stat index %s ignored: %s", self.path, exc)
                run.rows.clear()
                run.held.clear()
        return run

    def _clock(self) -> int | None:
        """The run's clock (formats.cache.clock); None when the folder cannot be written, and
        then no stat is trusted."""
        try:
            return clock(self.folder)
        except OSError as exc:
            log.debug("stat index %s not used: %s", self.folder, exc)
            return None

    def _connect(self) -> sqlite3.Connection:
        import sqlite3

        db = sqlite3.connect(self.path, timeout=2.0, isolation_level="DEFERRED")
        # No fsync: a quarter of writing 10,000 records. A killed process still leaves the last
        # whole transaction (the rollback journal is written, only not synced); a crash of the
        # OS may leave a damaged file, which SQLite's errors and each row's CRC turn into an
        # index read as absent, and rows are keyed by their files' stat and bytes, so an old
        # row is a right one.
        db.execute("PRAGMA synchronous=OFF")
        return db


@dataclass
class IndexRun:
    """What one load found in the index, and what it saw to write back."""

    index: StatIndex
    payloads: Payloads
    started: int | None
    rows: dict[str, Row] = field(default_factory=dict)  # shown path -> row
    seen: dict[str, tuple[str, Stat, str]] = field(default_factory=dict)  # -> kind, stat, raw
    fresh: dict[tuple[str, str], Loaded] = field(default_factory=dict)  # (kind, raw) -> record
    held: dict[str, Record] = field(default_factory=dict)  # shown path -> its record, until used
    # Whether the index held records of this salt for any file: else looking bytes up
    # (by_content) would find nothing.
    holds_records: bool = False
    decoded: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    unkept: set[tuple[str, str]] = field(default_factory=set)  # records JSON cannot hold

    def load(self, db: sqlite3.Connection) -> None:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT or meta.get("home") != home(self.index.path):
            return  # another format, or copied here (a checkout, a cache): as if empty
        query = (
            "SELECT f.path, f.kind, f.stat, f.trusted, f.raw, f.checksum,"
            f" {', '.join('r.' + c for c in RECORD.split(', '))}"
            " FROM files f LEFT JOIN records r ON r.salt = ? AND r.kind = f.kind AND r.raw = f.raw"
        )
        rows, held = self.rows, self.held
        for found in db.execute(query, (self.index.salt,)):
            path = found[0]
            rows[path] = Row._make(found[1:6])
            if found[6] is not None:
                held[path] = Record._make(found[6:])
        self.holds_records = bool(held)

    def by_stat(self, kind: Kind, shown: str, stat: Stat | None) -> Loaded | None:
        """The record of a file whose trusted stat is unchanged (the file is not opened)."""
        record = self.held.pop(shown, None)  # let go once read: 100,000 of them weigh
        row = self.rows.get(shown)
        if row is None or record is None or row.stat != stat or not row.trusted:
            return None
        if row.kind != kind.name or not row.intact(shown):
            return None
        loaded = self._loaded(kind, shown, row.raw, record)
        if loaded is not None:
            self.seen[shown] = (kind.name, row.stat, row.raw)
        return loaded

    def by_content(self, kind: Kind, wanted: dict[str, str]) -> dict[str, Loaded]:
        """The records held for files of `kind` by the hash of their bytes (`wanted`: shown
        path -> hash), for those the index holds."""
        import sqlite3

        hashes = sorted(set(wanted.values()))
        values: dict[str, Record] = {}
        try:
            with contextlib.closing(self.index._connect()) as db:
                for start in range(0, len(hashes), _BATCH):
                    batch = hashes[start : start + _BATCH]
                    marks = ",".join("?" * len(batch))
                    for raw, *columns in db.execute(
                        f"SELECT raw, {RECORD} FROM records WHERE salt = ? AND kind = ?"
                        f" AND raw IN ({marks})",
                        (self.index.salt, kind.name, *batch),
                    ):
                        values[raw] = Record._make(columns)
        except sqlite3.Error as exc:
            log.debug("stat index %s ignored: %s", self.index.path, exc)
            return {}
        found: dict[str, Loaded] = {}
        for shown, raw in wanted.items():
            if raw in values and (loaded := self._loaded(kind, shown, raw, values[raw])):
                found[shown] = loaded
        return found

    def saw(
        self, kind: Kind, shown: str, stat: Stat | None, raw: str, loaded: Loaded | None
    ) -> None:
        """Note a file this run read: its stat before the read, the hash of the bytes read, and
        its record when it is valid and new to the index."""
        if stat is None:
            return  # not a regular file: never in the index
        self.seen[shown] = (kind.name, stat, raw)
        if loaded is not None and loaded.desired is not None:
            self.fresh[(kind.name, raw)] = loaded

    def _loaded(self, kind: Kind, shown: str, raw: str, record: Record) -> Loaded | None:
        if record_checksum(self.index.salt, kind.name, raw, record) != record.checksum:
            return None  # damaged
        try:
            envelope, depends_on, lines = self.shared(record)
            cross_values = json.loads(record.cross)
        except (ValueError, TypeError):
            return None
        if not isinstance(cross_values, dict):
            return None
        desired = Desired(
            kind=kind.name,
            identity=record.identity,
            envelope=envelope,
            packed=self.payloads.add(kind.name, raw, shown, envelope, record.wire_digest),
            active=record.active == 1,
            file=shown,
            depends_on=depends_on,
            wire_digest=record.wire_digest,
        )
        return Loaded(kind.name, shown, cross_values, lines, desired=desired)

    def shared(self, record: Record) -> tuple[dict[str, Any], tuple[str, ...], dict[str, int]]:
        """The envelope, dependencies and lines of a record: each text read once, and each
        value held once for the records that share it."""
        key = (record.envelope, record.depends_on, record.lines)
        found = self.decoded.get(key)
        if found is None:
            envelope, depends_on, lines = (json.loads(text) for text in key)
            if not (isinstance(envelope, dict) and isinstance(depends_on, list)):
                raise ValueError("not a record's parts")
            if not isinstance(lines, dict):
                raise ValueError("not a record's parts")
            found = (shared_envelope(envelope), shared(tuple(depends_on)), shared_lines(lines))
            self.decoded[key] = found
        return found

    # -- writing --------------------------------------------------------------------------

    def save(self) -> None:
        """Write what changed: the rows of files read, the records made, the files gone."""
        import sqlite3

        if self.started is None:
            return
        files = self._file_rows(changed_only=True)
        gone = [shown for shown in self.rows if shown not in self.seen]
        if not (files or gone or self.fresh):
            return
        try:
            self._write(files, gone, self._records())
        except sqlite3.DatabaseError as exc:
            log.debug("stat index %s unusable (%s): starting it again", self.index.path, exc)
            with contextlib.suppress(OSError):
                self.index.path.unlink()
            self.rows.clear()
            self.held.clear()
            with contextlib.suppress(sqlite3.Error, OSError):
                self._write(self._file_rows(changed_only=False), [], self._records())
        except (sqlite3.Error, OSError) as exc:  # busy, read-only, disk full: only slower
            log.debug("stat index %s not written: %s", self.index.path, exc)

    def _file_rows(self, *, changed_only: bool) -> list[tuple[Any, ...]]:
        started = self.started or 0
        rows = []
        for shown, (kind, stat, raw) in self.seen.items():
            # Trusted: older than this run's clock, so any later write shows in the stat.
            _size, mtime, ctime, _ino = stat_fields(stat)
            trusted = int(mtime < started and ctime < started)
            if changed_only and same(self.rows.get(shown), kind, stat, trusted, raw):
                continue
            own = file_checksum(shown, kind, stat, trusted, raw)
            rows.append((shown, kind, stat, trusted, raw, own))
        return rows

    def _records(self) -> Iterator[tuple[Any, ...]]:
        """The rows of the records made this run, each made as it is written."""
        salt = self.index.salt
        shared: dict[int, str] = {}  # the objects it names are held by self.fresh meanwhile
        for (kind, raw), loaded in self.fresh.items():
            record = record_of(salt, kind, raw, loaded, shared)
            if record is not None:
                yield (salt, kind, raw, *record)
            else:
                self.unkept.add((kind, raw))

    def _payloads(self) -> Iterator[tuple[str, str, str, str]]:
        """The payloads of the records made this run."""
        salt = self.index.salt
        for (kind, raw), loaded in self.fresh.items():
            if loaded.desired is not None and (kind, raw) not in self.unkept:
                yield salt, kind, raw, loaded.desired.packed_payload

    def _write(
        self,
        files: list[tuple[Any, ...]],
        gone: list[str],
        records: Iterator[tuple[Any, ...]],
    ) -> None:
        import sqlite3

        for old in _OLD:
            with contextlib.suppress(OSError):
                (self.index.folder / old).unlink()
        with contextlib.closing(self.index._connect()) as db, db:
            meta: dict[str, str] = {}
            with contextlib.suppress(sqlite3.OperationalError):
                meta = dict(db.execute("SELECT key, value FROM meta"))
            written_in = home(self.index.path)
            if meta.get("format") != FORMAT or meta.get("home") != written_in or not written_in:
                for table in ("meta", "files", "records", "payloads"):  # another's: none kept
                    db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA:
                db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('home', ?)", (written_in,))
            db.executemany("DELETE FROM files WHERE path = ?", ((g,) for g in gone))
            db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", files)
            marks = ", ".join("?" * 11)
            db.executemany(f"INSERT OR IGNORE INTO records VALUES ({marks})", records)
            db.executemany("INSERT OR IGNORE INTO payloads VALUES (?, ?, ?, ?)", self._payloads())
            (count,) = db.execute("SELECT count(*) FROM records").fetchone()
            if count > _KEEP * len(self.seen) + 1000:
                used = {(kind, raw) for kind, _stat, raw in self.seen.values()}
                stale = [
                    (salt, kind, raw)
                    for salt, kind, raw in db.execute("SELECT salt, kind, raw FROM records")
                    if (kind, raw) not in used
                ]
                for table in ("records", "payloads"):
                    db.executemany(
                        f"DELETE FROM {table} WHERE salt = ? AND kind = ? AND raw = ?", stale
                    )
