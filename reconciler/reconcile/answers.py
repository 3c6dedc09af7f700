"""Kept answers (`.reconciler/cache/answers/`): what a `plan` or `validate` printed, byte for
byte, and its exit status, printed again by the next identical question while nothing it was
made of has changed. A warm no-op plan then costs a walk of the record folders and a few stats,
as `git status` does, instead of reading 10,000 records back.

An answer is made of, and kept with the fingerprint of:
- the question (cli/kept.py): the command line, the working folder, the environment variables
  the commands read, the terminal and the encodings of the output streams, the user;
- the code: every file of the package, the Python (its executable, version and `sys.path`),
  and the stat of each folder on `sys.path` (installing, upgrading or removing a package
  changes its folder);
- the files the run read: reconciler.yaml, the ledger and its journal when the run read the
  ledger (each one's stat, or its absence), and the record folders as the loader walked them
  (the same files, each with the same stat: records/walk.py).

An answer is kept only when every one of those stats is older than the run's clock, read before
the run looked at anything (formats/cache.py): any write to a file after that moment gives it a
later ctime, so an equal stat later proves that the file still holds the bytes the run read.
A file changed during the run, or within the clock's granularity before it ("racy git"), keeps
the answer from being kept; the next run makes it again.

Never truth: an answer is read only when its format, its question, every fingerprint and the
CRC of its bytes match; anything else counts as absent, and the command runs in full.
`--no-cache`, `--out`, `--refresh`, `--verbose` and the markdown format are never answered
from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_module
import sys
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from reconciler.records.walk import UNTRUSTED, Fingerprint, walk_again

FORMAT = "reconciler kept answer 1"
FOLDER = os.path.join(".reconciler", "cache", "answers")
SUFFIX = ".answer"
MAX_BYTES = 256 * 2**20  # a larger answer (a plan of some 130,000 creates as JSON) is not kept
KEEP = 6  # answers kept per repository, the most recently made
_TRAILER = 12  # the header's length (8 bytes) and its CRC (4), at the very end of the file
_STALE = 600  # seconds after which an unfinished recording (of a killed run) is removed


@dataclass(frozen=True)
class Inputs:
    """What a run read, for its answer: files by their stat or absence (paths relative to the
    repository), and the record folders with the fingerprint of the loader's walk of them."""

    files: tuple[str, ...]
    folders: tuple[str, ...] = ()
    walked: Fingerprint | None = None


@dataclass(frozen=True)
class Kept:
    """An answer found valid: its file, open (the bytes checked are the bytes printed, even if
    another run replaces the file meanwhile), and the parts of its bytes in the order they were
    written (1: stdout, 2: stderr, each with its length)."""

    handle: BinaryIO
    parts: tuple[tuple[int, int], ...]
    code: int

    def chunks(self, size: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
        """(stream, bytes) in the order the run wrote them, at most `size` bytes each."""
        with self.handle as handle:
            handle.seek(0)
            for stream, length in self.parts:
                while length > 0:
                    data = handle.read(min(size, length))
                    if not data:
                        raise OSError(f"{handle.name} ended early")
                    length -= len(data)
                    yield stream, data


def folder(repo: str) -> str:
    return os.path.join(repo, FOLDER)


def answer_path(repo: str, question: str) -> str:
    return os.path.join(folder(repo), question[:40] + SUFFIX)


# -- fingerprints --------------------------------------------------------------------------


def _fields(path: str) -> tuple[list[int] | None, int]:
    """A file's size, mtime, ctime and inode (None when absent), and its newest change; a
    symlink or a path that cannot be stat'ed is UNTRUSTED (its target may change unseen)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, 0
    except OSError:
        return None, UNTRUSTED
    if stat_module.S_ISLNK(st.st_mode):
        return None, UNTRUSTED
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino], max(
        st.st_mtime_ns, st.st_ctime_ns
    )


def files_fingerprint(repo: str, files: Iterable[str]) -> Fingerprint:
    """The Fingerprint of files named relative to `repo`: each one's stat or its absence."""
    h = hashlib.sha256()
    newest = 0
    for name in files:
        fields, changed = _fields(os.path.join(repo, name))
        h.update(json.dumps([name, fields]).encode())
        newest = max(newest, changed)
    return Fingerprint(h.hexdigest(), newest)


def code_fingerprint() -> Fingerprint:
    """The Fingerprint of the code that answers: every file of the package (its sources, its
    templates) by stat, and the Python with the folders it imports from."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    newest = 0
    pending = [package]
    while pending:
        directory = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return Fingerprint("", UNTRUSTED)
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            st = entry.stat(follow_symlinks=False)
            if stat_module.S_ISDIR(st.st_mode):
                pending.append(entry.path)
                continue
            fields = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            h.update(f"{entry.path}\0{fields}\n".encode())
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    h.update(f"{sys.executable}\0{sys.version}\n".encode())
    for place in sys.path:
        try:
            st = os.stat(place or ".")
        except OSError:
            h.update(f"{place}\0-\n".encode())
            continue
        h.update(f"{place}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
        # A folder of the Python's own (site-packages) is trusted whatever its age: a package
        # installed during the run is caught by the stat's change, as for any file.
    return Fingerprint(h.hexdigest(), newest)


def inputs_fingerprint(repo: str, inputs: Inputs) -> Fingerprint:
    """The Fingerprint of a run's inputs: its files as they are now, its walk as the loader
    saw it (or as it is now, when the inputs carry none)."""
    files = files_fingerprint(repo, inputs.files)
    walked = inputs.walked if inputs.walked is not None else walk_again(repo, inputs.folders)
    digest = hashlib.sha256(f"{files.digest}\n{walked.digest}".encode()).hexdigest()
    return Fingerprint(digest, max(files.newest, walked.newest))


# -- reading -------------------------------------------------------------------------------


def kept(repo: str, question: str) -> Kept | None:
    """The answer kept for `question` in `repo`, when everything it was made of is unchanged."""
    try:
        handle = open(answer_path(repo, question), "rb")  # noqa: SIM115 -- Kept closes it
    except OSError:
        return None
    try:
        header, body = _header(handle)
        if header.get("format") != FORMAT or header.get("question") != question:
            raise ValueError("another question's")
        if header.get("code_print") != code_fingerprint().digest:
            raise ValueError("other code's")
        inputs = Inputs(files=tuple(header["files"]), folders=tuple(header["folders"]))
        if header.get("inputs") != inputs_fingerprint(repo, inputs).digest:
            raise ValueError("made of other files")
        parts = tuple((int(s), int(n)) for s, n in header["parts"])
        if any(s not in (1, 2) or n < 0 for s, n in parts) or sum(n for _s, n in parts) != body:
            raise ValueError("damaged")
        if header.get("crc") != _crc(handle, body):
            raise ValueError("damaged")
        return Kept(handle, parts, int(header["exit"]))
    except (OSError, ValueError, KeyError, TypeError):
        handle.close()
        return None


def header_of(path: str) -> dict[str, Any]:
    """The header of the answer file at `path` (ValueError when it has none)."""
    with open(path, "rb") as handle:
        return _header(handle)[0]


def _header(handle: Any) -> tuple[dict[str, Any], int]:
    """The header of an answer file and the length of the bytes before it."""
    end = handle.seek(0, os.SEEK_END)
    if end < _TRAILER:
        raise ValueError("too short")
    handle.seek(end - _TRAILER)
    trailer = handle.read(_TRAILER)
    length, crc = int.from_bytes(trailer[:8], "big"), int.from_bytes(trailer[8:], "big")
    body = end - _TRAILER - length
    if length > 1 << 20 or body < 0:
        raise ValueError("no header")
    handle.seek(body)
    text = handle.read(length)
    if zlib.crc32(text) != crc:
        raise ValueError("damaged header")
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("not a header")
    return header, body


def _crc(handle: Any, length: int) -> int:
    handle.seek(0)
    crc = 0
    while length > 0:
        data = handle.read(min(1 << 20, length))
        if not data:
            break
        crc = zlib.crc32(data, crc)
        length -= len(data)
    return crc


# -- writing -------------------------------------------------------------------------------


def clock_now(repo: str) -> int:
    """The run's clock (formats/cache.py), read before the run looks at any input; OSError
    when the cache folder cannot be written."""
    from pathlib import Path  # here: a kept answer is printed without pathlib

    from reconciler.formats.cache import clock

    return clock(Path(repo, os.path.dirname(FOLDER)))


def recording_path(repo: str) -> str:
    """A new file to record a run's output in (OSError when the folder cannot be made)."""
    where = folder(repo)
    os.makedirs(where, exist_ok=True)
    return os.path.join(where, f"recording-{os.getpid()}-{time.monotonic_ns()}.tmp")


def keep(
    repo: str,
    question: str,
    *,
    clock: int,
    inputs: Inputs,
    recording: str,
    parts: Sequence[tuple[int, int]],
    code: int,
) -> bool:
    """Make `recording` (the bytes written, in `parts`) the answer to `question`, when every
    input is older than the run's `clock`; else remove it. Whether it was kept."""
    try:
        code_print = code_fingerprint()
        made_of = inputs_fingerprint(repo, inputs)
        if max(code_print.newest, made_of.newest) >= clock or code_print.digest == "":
            return False
        size = sum(n for _s, n in parts)
        with open(recording, "r+b") as handle:
            if handle.seek(0, os.SEEK_END) != size or size > MAX_BYTES:
                return False
            header = json.dumps(
                {
                    "format": FORMAT,
                    "question": question,
                    "code_print": code_print.digest,
                    "files": list(inputs.files),
                    "folders": list(inputs.folders),
                    "inputs": made_of.digest,
                    "parts": [list(p) for p in parts],
                    "crc": _crc(handle, size),
                    "exit": code,
                },
                sort_keys=True,
            ).encode()
            handle.seek(size)
            handle.write(header)
            handle.write(len(header).to_bytes(8, "big") + zlib.crc32(header).to_bytes(4, "big"))
        os.replace(recording, answer_path(repo, question))
        _prune(folder(repo))
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(recording)


def _prune(where: str) -> None:
    """Keep the KEEP answers made last; remove recordings that no run will finish."""
    now = time.time()
    answers: list[tuple[float, str]] = []
    for entry in os.scandir(where):
        with contextlib.suppress(OSError):
            made = entry.stat().st_mtime
            if entry.name.endswith(SUFFIX):
                answers.append((made, entry.path))
            elif entry.name.endswith(".tmp") and now - made > _STALE:
                os.unlink(entry.path)
    for _made, path in sorted(answers, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(path)
