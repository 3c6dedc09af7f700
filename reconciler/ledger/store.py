"""One environment's ledger on disk, and the only way in: `LedgerStore` knows the ledger file,
the apply journal beside it and the lock they share.

- `read()`: the ledger as it stands (the file, plus what an unfinished apply journaled), for
  commands that only read; its records keep only where their JSON is in the file (and that
  place is kept in the read cache, read_cache.py, for the next command).
- `lock(purpose)`: one apply or import at a time; the temporary files a killed write left
  in the ledger's and the journal's folders are removed once it is held.
- `recover()`: under the lock, what an interrupted apply journaled is written into the file
  and the journal removed, in one read of the file; the writer the engine records through.
- `save(ledger)`: a whole new ledger (import), under the lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.formats.atomic import remove_leftovers
from reconciler.ledger import file, journal
from reconciler.ledger.lock import held_message, lock, lock_name
from reconciler.ledger.model import Ledger

if TYPE_CHECKING:
    from reconciler.ledger.writer import LedgerWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerStore:
    """The ledger file of `environment` at `path`, shown in messages as `shown`; its journal and
    its lock live under `local` (the repository's .reconciler/). `root` (resolved) is the
    repository no symlink may lead out of."""

    path: Path
    environment: str
    shown: str
    root: Path
    local: Path
    # Whether read() may answer from the ledger's read cache in local/cache (read_cache.py).
    cached: bool = False

    @property
    def lock_path(self) -> Path:
        """The lock of the ledger file (shared by every environment that names the same file)."""
        return self.local / "locks" / lock_name(self.path, self.root)

    @property
    def journal_path(self) -> Path:
        """Where an apply journals its changes until it rewrites the file (named after the
        file, as its lock is)."""
        name = lock_name(self.path, self.root).removesuffix(".lock")
        return self.local / "journal" / f"{name}.jsonl"

    def held_by(self) -> str:
        """Who holds the lock now, in the words of a second apply's error."""
        return held_message(self.lock_path)

    @property
    def read_cache_path(self) -> Path:
        """What the last read of the ledger file gave (read_cache.py), named as its lock is."""
        name = lock_name(self.path, self.root).removesuffix(".lock")
        return self.local / "cache" / f"{name}.read.json"

    def read_is_light(self) -> bool:
        """Whether read() will most likely answer from the read cache: a few bytes a record,
        not the ledger file's megabytes (a plan then reads the files' records first)."""
        if not self.cached:
            return False
        from reconciler.ledger import read_cache

        return read_cache.vouches(self.path, self.environment, cache_file=self.read_cache_path)

    def read(self) -> Ledger:
        """The ledger as it is on disk now, with what an unfinished apply journaled (read
        again on every call; from the read cache while the file's stat vouches for it)."""
        if self.cached:
            from reconciler.ledger import read_cache

            on_disk = read_cache.read(
                self.path,
                self.environment,
                shown=self.shown,
                root=self.root,
                cache_file=self.read_cache_path,
            )
        else:
            on_disk = file.load(
                self.path, self.environment, shown=self.shown, root=self.root, reading=True
            )
        return journal.replay(
            on_disk, self.journal_path, shown=self._journal_shown(), root=self.root
        ).ledger

    @contextlib.contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Hold the ledger's lock (one apply or import at a time) or fail at once, naming the
        holder."""
        with lock(self.lock_path, purpose=purpose):
            for written in (self.path, self.journal_path):
                for leftover in remove_leftovers(written):
                    logger.info("removed %s, left by a write that was killed", leftover.name)
            yield

    def recover(self) -> LedgerWriter:
        """Write what an interrupted apply journaled into the ledger file, remove the journal,
        and give the writer of the ledger as it now stands. Only while holding the lock."""
        from reconciler.ledger.writer import LedgerWriter  # asyncio: read-only commands skip it

        on_disk = file.load(self.path, self.environment, shown=self.shown, root=self.root)
        replayed = journal.replay(
            on_disk, self.journal_path, shown=self._journal_shown(), root=self.root
        )
        current = replayed.ledger
        if replayed.changes:
            current = file.save(self.path, replace(current, serial=on_disk.serial))
        journal.remove(self.journal_path)
        return LedgerWriter(self.path, current, journal=self.journal_path)

    def save(self, ledger: Ledger) -> Ledger:
        """Write a whole ledger (serial + 1). Only while holding the lock."""
        return file.save(self.path, ledger)

    def _journal_shown(self) -> str:
        parts = self.journal_path.parts
        return "/".join(parts[-3:]) if len(parts) >= 3 else str(self.journal_path)
