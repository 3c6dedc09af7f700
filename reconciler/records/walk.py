"""The walk of a kind's folder: which record files there are and their stat, and the fingerprint
of what a walk found. Standard library only: the kept answers (reconcile/answers.py) walk the
folders before anything else of the package is imported.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple

SUFFIXES = (".yaml", ".yml")

# What of a file's stat tells whether its bytes changed: size, mtime_ns, ctime_ns, inode,
# packed in 32 bytes (100,000 of them held as ints would weigh 20 MB) and compared whole.
Stat = bytes
_STAT = struct.Struct("<QqqQ")
UNTRUSTED = 2**63 - 1  # the newest change of a walk holding a file that has no Stat


def stat_of(st: os.stat_result) -> Stat | None:
    """The Stat of a file (None for one out of the ranges the index holds)."""
    try:
        return _STAT.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    except struct.error:
        return None


def stat_from(size: int, mtime_ns: int, ctime_ns: int, ino: int) -> Stat:
    """The Stat of these fields."""
    stat: Stat = _STAT.pack(size, mtime_ns, ctime_ns, ino)
    return stat


def stat_fields(stat: Stat) -> tuple[int, int, int, int]:
    """size, mtime_ns, ctime_ns and inode of a Stat."""
    fields: tuple[int, int, int, int] = _STAT.unpack(stat)
    return fields


class Found(NamedTuple):
    """A record file the walk found: its name as shown (relative to the repository, with /),
    and its stat when it is a regular file (None for a symlink or anything else). Its path is
    the repository's joined with the name (not held: 100,000 of them weigh)."""

    shown: str
    stat: Stat | None


def found_files(repo: str | os.PathLike[str], folder: str) -> list[Found]:
    """The record files under `repo`/`folder` (a kind's folder), sorted part by part; hidden
    files and folders are skipped. A folder named like a record file (`x.yaml/`) is listed, not
    entered, so that reading it is an error that names it; symlinked folders are not entered."""
    prefix = folder.replace(os.sep, "/").strip("/")
    found: list[tuple[tuple[str, ...], Found]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(os.path.join(repo, folder), ())]
    # scandir, not Path.rglob: a repository of 100,000 records is read in a fraction of the
    # time, and each entry's stat costs one lstat (none at all on Windows).
    while pending:
        directory, parts = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # as os.walk: a folder that cannot be listed is skipped
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
                symlink = entry.is_symlink()
            except OSError:
                is_dir = symlink = False
            if name.endswith(SUFFIXES):
                info = None
                if not symlink and not is_dir:
                    try:
                        st = entry.stat(follow_symlinks=False)
                        info = stat_of(st) if stat_module.S_ISREG(st.st_mode) else None
                    except OSError:
                        info = None
                shown = "/".join((prefix, *parts, name))
                found.append(((*parts, name), Found(shown, info)))
            elif is_dir and not symlink:
                pending.append((entry.path, (*parts, name)))
    found.sort(key=lambda pair: pair[0])  # the order of sorted(paths): part by part
    return [item for _parts, item in found]


class Fingerprint(NamedTuple):
    """What a walk found, in one digest, and the latest change (mtime or ctime, ns) among its
    files: a run whose clock is later read each file as it still is when the digest is equal
    (formats/cache.py). UNTRUSTED when a file has no Stat (a symlink: its target may change
    without its own stat)."""

    digest: str
    newest: int


def fingerprint(found: Iterable[Found]) -> Fingerprint:
    """The Fingerprint of a walk's files (in the walk's order)."""
    h = hashlib.sha256()
    newest = 0
    for shown, stat in found:
        # A tag, the name, NUL, then 32 bytes of Stat or none: no two walks hash alike.
        h.update(b"L" if stat is None else b"F")
        h.update(shown.encode())
        h.update(b"\0")
        if stat is None:
            newest = UNTRUSTED
            continue
        h.update(stat)
        _size, mtime, ctime, _ino = _STAT.unpack(stat)
        newest = max(newest, mtime, ctime)
    return Fingerprint(h.hexdigest(), newest)


def walk_fingerprint(repo: str, walked: Sequence[tuple[str, list[Found] | None]]) -> Fingerprint:
    """The Fingerprint of the record folders (each with the files a walk found in it, None
    when it was not walked): the loader's walk and a later one give the same digest for the
    same files with the same stats. A folder that is a symlink is UNTRUSTED."""
    h = hashlib.sha256()
    newest = 0
    for name, found in walked:
        try:
            mode = os.lstat(os.path.join(repo, name)).st_mode
        except OSError:
            mode = None
        if mode is None:
            kind = "absent"
        elif stat_module.S_ISDIR(mode) and found is not None:
            kind = "folder"
        else:
            kind, newest = "other", UNTRUSTED
        inner = fingerprint(found or ())
        h.update(f"{name}\0{kind}\0{inner.digest}\n".encode())
        newest = max(newest, inner.newest)
    return Fingerprint(h.hexdigest(), newest)


def walk_again(repo: str, folders: Iterable[str]) -> Fingerprint:
    """The Fingerprint of the record folders as they are now."""
    walked: list[tuple[str, list[Found] | None]] = []
    for name in folders:
        path = os.path.join(repo, name)
        walked.append((name, found_files(repo, name) if os.path.isdir(path) else None))
    return walk_fingerprint(repo, walked)
