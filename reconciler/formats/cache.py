"""What the caches in `.reconciler/cache/` share: the folder (never committed), the run's clock
that decides which stats can be trusted, the code that made a cached value, and the file a cache
was written in. The stat index of record files (records/stat_index.py), the compiled policies
(records/policy_cache.py) and the ledger's read cache (ledger/read_cache.py) use them.

Never truth: each cache checks what it reads against what it wrote, and counts a cache made by
other code, or copied in from elsewhere, as absent.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from pathlib import Path

FOLDER = ".reconciler/cache"
CLOCK = "clock"  # written at the start of each run: its mtime is the run's clock


def make_cache_folder(folder: Path) -> None:
    """The cache folder, with a `.gitignore` of its own (OSError when it cannot be made)."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# reconciler's caches (stat index, compiled policies, ledger reads): never "
            "committed\n*\n",
            "utf-8",
        )


def clock(folder: Path) -> int:
    """The filesystem's time now (ns), read from the mtime of a file written for it in the cache
    `folder` (made when missing): a file whose mtime and ctime are older was last written before
    this moment, so any later write shows in its stat. OSError when the folder cannot be
    written."""
    make_cache_folder(folder)
    fd = os.open(folder / CLOCK, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"the mtime of this file is the clock of the last plan\n")
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)


def home(path: Path) -> str | None:
    """The file a cache was written in (device and inode): a cache found in another file,
    copied in by `cp`, a restored cache or a git checkout, is not this machine's and is
    ignored."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}"


def code_digest(form: str, modules: tuple[str, ...] = ()) -> str:
    """sha256 of a cache's format `form`, the package's source and the imported `modules`
    (those that define kinds outside the package): a value made by other code (another
    version, an edited checkout) is never used."""
    return hashlib.sha256(f"{form}\n{_source_digest(modules)}".encode()).hexdigest()


@cache
def _source_digest(modules: tuple[str, ...]) -> str:
    """sha256 of the package's source and of `modules` outside it; the package is read once
    per process, however many caches a command uses."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(_package_digest(package).encode())
    for name in modules:
        found = getattr(sys.modules.get(name), "__file__", None)
        path = Path(found).resolve() if found else None
        if path is not None and not path.is_relative_to(package):
            h.update(f"{path}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@cache
def _package_digest(package: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(f"{path.relative_to(package)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()
