"""Writing a file so that a crash at any instant leaves the old file or the new one, never half of
either: a temporary file in the same folder, fsync, rename, fsync the folder.

Every file the tool writes goes through `atomic_write`: the ledger, the journal when it
restarts, saved plans, `import --write-yaml`'s records, `init`'s files, the report. A process
killed between the temporary file and the rename leaves `.<name>.<random>.tmp` beside the file;
`remove_leftovers` removes those, by whoever holds the lock on what is written there.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from reconciler.formats import redact

TEMP_SUFFIX = ".tmp"
_umask: int | None = None
_umask_lock = threading.Lock()


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Temporary file in the same folder, fsync, rename, fsync the folder. `text` may come in
    pieces, so a large document is never held whole. Secrets of the run are masked (redact).
    A new file gets the mode `open()` would give it (0666 less the umask); a file that exists
    keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp makes the file 0600, which a second user or a container step cannot read.
        _set_mode(fd, tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if isinstance(text, str):
                handle.write(redact.redact(text))
            else:
                handle.writelines(redact.redact_all(text))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def _set_mode(fd: int, tmp: str, mode: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - only the read-only bit exists there
        return
    os.fchmod(fd, mode)


def current_umask() -> int:
    """The process's umask, read once. Linux shows it in /proc/self/status; elsewhere it can
    only be read by setting it, which is done once, before any file is written, under a lock
    (the setting is process-wide: a file created by another thread meanwhile would get it)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = _read_umask()
        return _umask


def _read_umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        found = re.search(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)
        if found:
            return int(found.group(1), 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename or unlink in it survives a crash."""
    if sys.platform == "win32":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def leftovers(path: Path) -> list[Path]:
    """The temporary files a killed `atomic_write` of `path` left beside it."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            name = entry.name
            if (
                name.startswith(f".{path.name}.")
                and name.endswith(TEMP_SUFFIX)
                and entry.is_file(follow_symlinks=False)
            ):
                found.append(Path(entry.path))
    return found


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the temporary files a killed `atomic_write` of `path` left beside it; the caller
    holds the lock on `path`, so no write of it is under way. The files removed."""
    removed = []
    for leftover in leftovers(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
            removed.append(leftover)
    return removed
