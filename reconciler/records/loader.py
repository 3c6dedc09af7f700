"""Files -> validated records: every problem of every file, each with file and line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import LoadError, Problem, quoted
from reconciler.formats import files, yamlfile
from reconciler.formats.jsontext import digest, without_gc
from reconciler.kinds import KINDS
from reconciler.model import Desired, Environment, Key, Kind, Loaded, make_key
from reconciler.records.parse_cache import PlanCache
from reconciler.records.validation import problems_from

SUFFIXES = (".yaml", ".yml")
_BATCH = 500  # files read, keyed and looked up in the plan cache at a time


def record_files(repo: Path, kind: Kind) -> list[Path]:
    """The record files of one kind, sorted; hidden files and folders are skipped. A folder
    named like a record file (`x.yaml/`) is listed, not entered, so that reading it is an
    error that names it; symlinked folders are not entered."""
    folder = repo / kind.folder
    found: list[tuple[tuple[str, ...], Path]] = []
    # os.walk, not Path.rglob: a repository of 100,000 records is read in a fraction of the time.
    for parent, folders, names in os.walk(folder):
        base = Path(parent)
        parts = base.relative_to(folder).parts
        named = [name for name in folders if name.endswith(SUFFIXES)]
        folders[:] = [n for n in folders if not n.startswith(".") and not n.endswith(SUFFIXES)]
        found.extend(
            ((*parts, name), base / name)
            for name in (*names, *named)
            if not name.startswith(".") and name.endswith(SUFFIXES)
        )
    found.sort(key=lambda pair: pair[0])  # the order of sorted(paths): part by part
    return [path for _parts, path in found]


def load_file(
    path: Path,
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
    lines = yamlfile.top_level_lines(node, kind.cross_keys)
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
    ledger, and the warnings found on the way."""

    desired: dict[Key, Desired]
    warnings: list[Problem]


@without_gc
def load_records(
    repo: Path,
    env: Environment,
    *,
    max_file_bytes: int | None = files.MAX_FILE_BYTES,
    cache: PlanCache | None = None,
) -> Records:
    """Every record of every kind in `repo`, or LoadError with every problem found. With
    `cache`, a file whose bytes were read and found valid before is not read again."""
    problems: list[Problem] = []
    loaded: dict[str, list[Loaded]] = {}
    fresh: dict[str, Loaded] = {}  # valid files the cache does not hold yet
    used: list[str] = []
    root = repo.resolve()
    for kind in KINDS.values():
        found = loaded.setdefault(kind.name, [])
        if not _folder_inside(repo / kind.folder, root, problems):
            continue
        paths = record_files(repo, kind)
        # A batch at a time: the bytes of the files, read to key them, are let go with it.
        for first in range(0, len(paths), _BATCH):
            batch = paths[first : first + _BATCH]
            keyed = _keyed(cache, kind, batch, root, max_file_bytes) if cache else {}
            hits = cache.get({key: kind for key, _ in keyed.values()}) if cache else {}
            for path in batch:
                shown = path.relative_to(repo).as_posix()
                key, raw = keyed.get(path, (None, None))
                hit = hits.get(key) if key is not None else None
                if hit is not None:
                    found.append(hit.loaded(shown))
                    continue
                item, found_problems = load_file(
                    path, shown, kind, env, root=root, limit=max_file_bytes, raw=raw
                )
                if item is not None:
                    found.append(item)
                    if key is not None and not found_problems and item.desired is not None:
                        fresh[key] = item
                problems.extend(found_problems)
            used.extend(key for key, _ in keyed.values())
    if cache is not None:
        cache.put(fresh, used=used)
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
    return Records({d.key: d for d in desired}, problems)


def _keyed(
    cache: PlanCache, kind: Kind, paths: list[Path], root: Path, limit: int | None
) -> dict[Path, tuple[str, bytes]]:
    """The cache key and the bytes of each file that may be read (load_file reports the rest),
    read as load_file reads them: regular files inside the repository, within the limit."""
    keyed: dict[Path, tuple[str, bytes]] = {}
    for path in paths:
        try:
            raw = files.read_bytes(path, root=root, limit=limit)
        except (files.Unreadable, OSError):
            continue
        keyed[path] = (cache.key(kind.name, raw), raw)
    return keyed


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
