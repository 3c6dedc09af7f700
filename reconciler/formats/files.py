"""Bounded reading of the files a repository holds: only regular files, only inside the
repository, never more than a size limit.

A pull request decides what the plan check reads. A FIFO named `x.yaml` would hang it, a symlink
to `/dev/zero` would exhaust its memory, and a symlink to a private key would print the key in
the check's log; each is refused here with an error naming the file, before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

MAX_FILE_BYTES = 1024 * 1024  # a record file or reconciler.yaml; settable in reconciler.yaml
# A file the tool writes (the ledger, a saved plan, the sandbox's journal): 100,000 records
# take about 150 MB; beyond this, a sparse or hostile file would exhaust the memory.
MAX_DOCUMENT_BYTES = 1024**3

# Opening never blocks (a FIFO without a writer) and never follows a last-component symlink
# unnoticed; O_BINARY keeps Windows from translating line ends. Absent flags are 0 there.
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NOFOLLOW_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})


class Unreadable(Exception):
    """A file that must not be read; the message completes "<file> ...", e.g. "is a FIFO"."""


def size_text(size: int) -> str:
    """1 MiB, 300 KiB, 12 bytes."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size:,} bytes"


def kind_of_file(mode: int) -> str:
    """`a FIFO`, `a directory`, ... for a file that is not a regular one."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def inside(path: Path | str, root: Path) -> Path:
    """The real path of `path`, which must stay inside `root` (itself resolved by the caller);
    Unreadable when a symlink on the way leads out of it, loops or leads nowhere."""
    try:
        real = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        if os.path.lexists(path):
            raise Unreadable(
                "is a symlink to a file that does not exist: fix or remove it"
            ) from None
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unreadable("is a symlink loop: fix or remove it") from None
        raise
    if not real.is_relative_to(root):
        # The target is not named: the point is that nothing outside the repository shows.
        raise Unreadable(
            "is a symlink that leads outside the repository: it was not read. Copy the file "
            "into the repository instead of linking to it"
        )
    return real


def inside_or_absent(path: Path, root: Path) -> None:
    """Unreadable when `path`, or the folder it would be created in, leads out of `root`
    (resolved) through a symlink: a file about to be written is checked like one to be read."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        raise Unreadable(
            "leads outside the repository through a symlink: it was not read. Keep it inside "
            "the repository"
        )


def read_bytes(path: Path | str, *, root: Path, limit: int | None = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file `path` inside `root` (resolved), at most `limit` of them.

    A symlink is followed only when its target stays inside `root`. The directories on the way
    are the caller's to vouch for (one `inside` check of the folder it walks), so a folder of
    100,000 files costs no extra system call per file."""
    if not _NOFOLLOW and os.path.islink(path):  # pragma: no cover - Windows
        return read_bytes(inside(path, root), root=root, limit=limit)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in _NOFOLLOW_ERRNOS and os.path.islink(path):
            return read_bytes(inside(path, root), root=root, limit=limit)
        _refuse_special(path)
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"is {kind_of_file(info.st_mode)}, not a file: remove or rename it")
        if limit is not None and info.st_size > limit:
            raise Unreadable(
                f"is {size_text(info.st_size)}, more than the limit of {size_text(limit)}"
                + (
                    " (max_file_bytes in reconciler.yaml): split it, or raise the limit"
                    if limit < MAX_DOCUMENT_BYTES
                    else ""
                )
            )
        chunks = []
        left = limit + 1 if limit is not None else None
        # The size the file has, in one read (a ledger of 100,000 records is read without a
        # second copy of it); then whatever it grew by meanwhile, a chunk at a time.
        first = info.st_size + 1 if left is None else min(left, info.st_size + 1)
        while left is None or left > 0:
            size = first or (1024 * 1024 if left is None else min(left, 1024 * 1024))
            first = 0
            chunk = os.read(fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            if left is not None:
                left -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if limit is not None and len(data) > limit:  # it grew after the check
            raise Unreadable(f"is more than the limit of {size_text(limit)}: split it")
        return data
    finally:
        os.close(fd)


def open_regular(path: Path, *, root: Path) -> BinaryIO:
    """The regular file `path` inside `root` (resolved), open for reading, checked as
    `read_bytes` checks it (a symlink is followed only inside `root`; a FIFO, a device or a
    folder is Unreadable), for a caller that reads it a piece at a time."""
    if not _NOFOLLOW and os.path.islink(path):  # pragma: no cover - Windows
        return open_regular(inside(path, root), root=root)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in _NOFOLLOW_ERRNOS and os.path.islink(path):
            return open_regular(inside(path, root), root=root)
        _refuse_special(path)
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise Unreadable(f"is {kind_of_file(mode)}, not a file: remove or rename it")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_special(path: Path | str) -> None:
    """Unreadable when `path` is a special file that open() refused (a socket: ENXIO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise Unreadable(f"is {kind_of_file(mode)}, not a file: remove or rename it") from None
