"""Files -> validated records: every problem of every file, each with file and line.

The stat index (stat_index.py) supplies the records of files that did not change, so only the
others are opened; those are read and validated in a process pool when there are many
(pool.py), and in this process otherwise, with the same result either way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from reconciler.errors import LoadError, Problem, quoted
from reconciler.formats import files, yamlfile
from reconciler.formats.jsontext import digest, without_gc
from reconciler.kinds import KINDS
from reconciler.model import Desired, Environment, Key, Kind, Loaded, make_key
from reconciler.records import pool
from reconciler.records.index_rows import raw_hash, shared_lines
from reconciler.records.stat_index import IndexRun, StatIndex
from reconciler.records.validation import problems_from
from reconciler.records.walk import Fingerprint, Found, found_files, walk_fingerprint

log = logging.getLogger(__name__)

# Files in a repository from which the stat index is used: below, opening the index (SQLite,
# the code's digest) costs more than reading the files.
INDEX_FROM = 64


def record_files(repo: Path, kind: Kind) -> list[Path]:
    """The paths of `found_files`."""
    return [repo / item.shown for item in found_files(repo, kind.folder)]


def load_file(
    path: Path | str,
    shown: str,
    kind: Kind,
    env: Environment,
    *,
    root: Path | None = None,
    limit: int | None = files.MAX_FILE_BYTES,
    raw: bytes | None = None,
) -> tuple[Loaded | None, list[Problem]]:
    """One record file validated against its kind's model, and its problems. `root` (resolved)
    is the repository, which no symlink may lead out of; `limit` the most bytes of a file;
    `raw` its bytes when they were read already."""
    try:
        data, node = yamlfile.read(path, shown, root=root, limit=limit, raw=raw)
    except yamlfile.YamlProblem as exc:
        return None, [yamlfile.problem(shown, exc)]
    except OSError as exc:
        return None, [Problem(shown, 0, f"cannot be read: {exc.strerror}")]
    if data is None:
        article = "an" if kind.name[0] in "aeiou" else "a"
        return None, [
            Problem(shown, 1, f"the file is empty: {article} {kind.name} file holds one record")
        ]
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"the value {quoted(data)}"
        return None, [
            Problem(
                shown,
                1,
                f"the file holds {what}, not a record: write one mapping of keys per file",
            )
        ]
    # Only what later stages read is kept: the model and the rest of the data are dropped here,
    # so a large repository holds one wire payload per record, not three copies of it.
    cross_values = {key: data[key] for key in kind.cross_keys if key in data}
    lines = shared_lines(yamlfile.top_level_lines(node, kind.cross_keys))
    try:
        record = kind.model.model_validate(data)
    except ValidationError as exc:
        subject = kind.identity(data) or ""
        problems = problems_from(exc, shown, node, model=kind.model, subject=subject)
        return Loaded(kind.name, shown, cross_values, lines, desired=None), problems
    desired = kind.desired(record, data, env, file=shown)
    return Loaded(kind.name, shown, cross_values, lines, desired=desired), []


@dataclass(frozen=True)
class Records:
    """Every valid record of a repository in its wire form for one environment, keyed like the
    ledger, and the warnings found on the way; and how many files were opened and parsed."""

    desired: dict[Key, Desired]
    warnings: list[Problem]
    opened: int = 0
    parsed: int = 0


class Parsed(NamedTuple):
    """What reading one file gave: the hash of its bytes (None when it could not be read),
    its record (None when it holds no mapping) and its problems. (A tuple: a worker process
    sends thousands of them back, and a tuple pickles fastest.)"""

    shown: str
    raw: str | None
    loaded: Loaded | None
    problems: list[Problem]


class _Chunk(NamedTuple):
    """Files of one kind for one parsing process: (path, shown, bytes when read already)."""

    kind: Kind
    env: Environment
    root: Path
    limit: int | None
    items: list[tuple[str, str, bytes | None]]


def parse_chunk(chunk: _Chunk) -> list[Parsed]:
    """Read and validate each file of a chunk (in a worker process, or in this one)."""
    return [
        parse_one(path, shown, chunk.kind, chunk.env, root=chunk.root, limit=chunk.limit, raw=raw)
        for path, shown, raw in chunk.items
    ]


def parse_one(
    path: str,
    shown: str,
    kind: Kind,
    env: Environment,
    *,
    root: Path,
    limit: int | None,
    raw: bytes | None = None,
) -> Parsed:
    """One file read (unless `raw` holds its bytes), hashed and validated."""
    if raw is None:
        try:
            raw = files.read_bytes(path, root=root, limit=limit)
        except files.Unreadable as exc:
            return Parsed(
                shown, None, None, [yamlfile.problem(shown, yamlfile.YamlProblem(0, str(exc)))]
            )
        except OSError as exc:
            return Parsed(shown, None, None, [Problem(shown, 0, f"cannot be read: {exc.strerror}")])
    loaded, problems = load_file(path, shown, kind, env, root=root, limit=limit, raw=raw)
    return Parsed(shown, raw_hash(raw), loaded, problems)


@without_gc
def load_records(
    repo: Path,
    env: Environment,
    *,
    max_file_bytes: int | None = files.MAX_FILE_BYTES,
    index: StatIndex | None = None,
    jobs: int | None = None,
    on_walk: Callable[[Fingerprint], None] | None = None,
) -> Records:
    """Every record of every kind in `repo`, or LoadError with every problem found. With
    `index`, a file the index vouches for is not opened; `jobs` caps the processes that parse
    (None: every available CPU, for a large tree). `on_walk` is told what the walk found (the
    files and their stats, before any is read: reconcile/answers.py keeps answers by it)."""
    problems: list[Problem] = []
    root = repo.resolve()
    started = index.clock() if index else None  # before any file is looked at
    walked: dict[str, list[Found]] = {}
    for kind in KINDS.values():
        if _folder_inside(repo / kind.folder, root, problems):
            walked[kind.name] = found_files(repo, kind.folder)
    if on_walk is not None:
        folders = [(kind.folder, walked.get(kind.name)) for kind in KINDS.values()]
        on_walk(walk_fingerprint(os.fspath(repo), folders))
    run = None
    if index is not None and sum(map(len, walked.values())) >= INDEX_FROM:
        run = index.start(started, _rereader(repo, root, env, max_file_bytes))
    reading = _Reading(os.fspath(repo), env, root, max_file_bytes, run, jobs)
    loaded = {name: reading.kind(KINDS[name], found) for name, found in walked.items()}
    if run is not None:
        run.save()
    log.debug("%d record files opened, %d parsed", reading.opened, reading.parsed)
    problems.extend(reading.problems)
    known: set[Key] = {
        make_key(item.kind, identity)
        for items in loaded.values()
        for item in items
        if (identity := KINDS[item.kind].identity(item.cross_values)) is not None
    }
    for name, items in loaded.items():
        problems.extend(KINDS[name].check_all(items, env, known))
    problems.sort(key=lambda p: (p.file, p.line, p.message))
    if any(p.severity == "error" for p in problems):
        raise LoadError(problems)
    desired = (item.desired for items in loaded.values() for item in items if item.desired)
    return Records(
        {d.key: d for d in desired}, problems, opened=reading.opened, parsed=reading.parsed
    )


@dataclass
class _Reading:
    """The reading of one load: the index run (if any), the problems found, files counted."""

    repo: str
    env: Environment
    root: Path
    limit: int | None
    run: IndexRun | None
    jobs: int | None
    problems: list[Problem] = field(default_factory=list)
    opened: int = 0
    parsed: int = 0

    def kind(self, kind: Kind, walked: list[Found]) -> list[Loaded]:
        """The records of the files of one kind, in the walk's order."""
        run = self.run
        slots: list[Loaded | None] = [
            run.by_stat(kind, f.shown, f.stat) if run else None for f in walked
        ]
        todo = [f for f, slot in zip(walked, slots, strict=True) if slot is None]
        raws: dict[str, bytes] = {}
        if run is not None and run.holds_records and todo:
            # Opened and hashed here: a file touched, renamed or switched back by git holds
            # bytes the index knows, and is not parsed again.
            raws, hits, read = _known(run, kind, todo, self.repo, self.root, self.limit)
            self.opened += read
            place = {f.shown: i for i, f in enumerate(walked)}
            for shown, hit in hits.items():
                slots[place[shown]] = hit
            todo = [f for f in todo if f.shown not in hits]
        self.opened += sum(1 for f in todo if f.shown not in raws)
        self.parsed += len(todo)
        results = _parse(kind, self.repo, self.env, self.root, self.limit, todo, raws, self.jobs)
        stats = {f.shown: f.stat for f in todo}
        found: list[Loaded] = []
        for slot in slots:
            if slot is None:
                result = next(results)
                if run is not None and result.raw is not None:
                    valid = result.loaded if not result.problems else None
                    run.saw(kind, result.shown, stats[result.shown], result.raw, valid)
                self.problems.extend(result.problems)
                slot = result.loaded
            if slot is not None:
                found.append(slot)
        return found


def _known(
    run: IndexRun, kind: Kind, todo: list[Found], repo: str, root: Path, limit: int | None
) -> tuple[dict[str, bytes], dict[str, Loaded], int]:
    """The records the index holds for the bytes of the files to read, found by their hash;
    the bytes of the others when there are few (many are read again where they are parsed,
    so that they are not all held at once); and how many files were opened."""
    keep = len(todo) <= pool.POOL_FROM
    raws: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    for item in todo:
        try:
            raw = files.read_bytes(os.path.join(repo, item.shown), root=root, limit=limit)
        except (files.Unreadable, OSError):
            continue  # _parse reports it
        hashes[item.shown] = raw_hash(raw)
        if keep:
            raws[item.shown] = raw
    hits = run.by_content(kind, hashes)
    by_shown = {item.shown: item for item in todo}
    for shown in hits:
        run.saw(kind, shown, by_shown[shown].stat, hashes[shown], None)
        raws.pop(shown, None)
    return raws, hits, len(hashes)


def _parse(
    kind: Kind,
    repo: str,
    env: Environment,
    root: Path,
    limit: int | None,
    todo: list[Found],
    raws: dict[str, bytes],
    jobs: int | None,
) -> Iterator[Parsed]:
    """Each file of `todo` parsed, in order: in a pool of processes when there are many."""
    items = [(os.path.join(repo, f.shown), f.shown, raws.get(f.shown)) for f in todo]
    tasks = [_Chunk(kind, env, root, limit, part) for part in pool.chunks(items)]
    workers = pool.worker_count(len(items), jobs)
    if workers > 1:
        log.debug("%d %s files parsed in %d processes", len(items), kind.name, workers)
    for results in pool.ordered_map(parse_chunk, tasks, workers=workers):
        yield from results


def _rereader(
    repo: Path, root: Path, env: Environment, limit: int | None
) -> Callable[[str, str], tuple[str | None, Loaded | None]]:
    """Reads one file again, for the index, when a payload it should hold is gone."""

    def reread(kind_name: str, shown: str) -> tuple[str | None, Loaded | None]:
        kind = KINDS.get(kind_name)
        if kind is None:
            return None, None
        result = parse_one(os.fspath(repo / shown), shown, kind, env, root=root, limit=limit)
        return result.raw, result.loaded if not result.problems else None

    return reread


def _folder_inside(folder: Path, root: Path, problems: list[Problem]) -> bool:
    """Whether a kind's folder may be walked: absent, or inside the repository once resolved
    (the files found in it are then inside too, as the walk enters no symlinked folder)."""
    if not os.path.lexists(folder):
        return False
    try:
        files.inside(folder, root)
    except files.Unreadable as exc:
        problems.append(Problem(folder.name, 0, f"the folder {exc}"))
        return False
    except OSError as exc:
        problems.append(Problem(folder.name, 0, f"the folder cannot be read: {exc.strerror}"))
        return False
    return True


@without_gc
def desired_digest(desired: dict[Key, Desired]) -> str:
    """A digest of the whole desired state: equal for equal wire forms, whatever the files."""
    return digest({key: d.wire_digest for key, d in desired.items()})
