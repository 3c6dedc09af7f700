"""The ledger while an apply changes it: in memory, and durable on disk as the journal's lines,
with the ledger file rewritten now and then and at the end (the engine's only way to record
what a call did)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.ledger import file
from reconciler.ledger.journal import JournalFile, change_line, header_line
from reconciler.ledger.model import Edit, Ledger

# During a long run the ledger file is rewritten from the journal at most this often (seconds),
# and at most a tenth of the time: a ledger of 100,000 records takes a while to write.
COMPACT_EVERY = 5.0
COMPACT_SHARE = 0.1


class LedgerWriter:
    """The ledger in memory and on disk. A change becomes durable as a line appended to the
    journal (changes made while an append is running go into the next one together: group
    commit); the ledger file is rewritten from time to time and when the run ends, so the cost
    of a call does not grow with the size of the ledger. `ledger` is the ledger as `recover`
    left it (no journal on disk)."""

    def __init__(
        self,
        path: Path,
        ledger: Ledger,
        *,
        journal: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.state = replace(ledger, edits=None)
        self._journal = JournalFile(journal)
        self._clock = clock
        self._log: list[str] = []  # the changes since the ledger file's snapshot, as lines
        self._written = 0  # how many of them are durable in the journal
        self._rewrite = False  # a change the journal cannot express: rewrite the ledger file
        self._changes = 0
        self._durable = 0
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._compacting: asyncio.Task[None] | None = None
        self._compacted_at = clock()
        self._compaction_took = 0.0

    def update(self, change: Callable[[Ledger], Ledger]) -> None:
        before = self.state
        after = change(before)
        edits: list[Edit] = []
        edit = after.edits
        while edit is not None:  # the writer's state has none: these are `change`'s
            edits.append(edit)
            edit = edit.previous
        replaced = after.records is not before.records or after.intents is not before.intents
        if replaced and not edits:
            self._rewrite = True
        self._log.extend(change_line(e) for e in reversed(edits))
        self.state = replace(after, edits=None)
        self._changes += 1

    async def durable(self) -> None:
        """Return once every change made before this call is on disk."""
        wanted = self._changes
        if self._rewrite:
            await self._compact()
        async with self._lock:
            if self._durable >= wanted:
                return
            covered, written = self._changes, len(self._log)
            lines = self._log[self._written : written]
            if self._journal.started:
                await asyncio.to_thread(self._journal.append, lines)
            else:
                await asyncio.to_thread(self._journal.start, self._head(), lines)
            self._written = written
            self._durable = covered
        self._compact_when_due()

    def _head(self) -> str:
        if not self.state.lineage:  # the first apply: the lineage is born with the journal
            self.state = replace(self.state, lineage=str(uuid.uuid4()))
        return header_line(self.state.environment, self.state.lineage, self.state.serial)

    def _compact_when_due(self) -> None:
        since = self._clock() - self._compacted_at
        due = since >= max(COMPACT_EVERY, self._compaction_took / COMPACT_SHARE)
        if due and self._compacting is None:
            self._compacting = self._start(self._compact())

    async def _compact(self) -> None:
        """Rewrite the ledger file with every change so far, then restart the journal with
        the changes made meanwhile. Calls go on: they wait only for journal appends."""
        started = self._clock()
        async with self._lock:
            snapshot, cut, covered = self.state, len(self._log), self._changes
            rewrite, self._rewrite = self._rewrite, False
            if not cut and not rewrite:
                return
        try:
            saved = await asyncio.to_thread(file.save, self.path, snapshot)
        except BaseException:
            self._rewrite = self._rewrite or rewrite
            raise
        async with self._lock:
            self.state = replace(self.state, serial=saved.serial, lineage=saved.lineage)
            del self._log[:cut]
            self._written = max(0, self._written - cut)
            if self._journal.started:
                # The changes made since the snapshot that are durable in the old journal.
                head = self._head()
                await asyncio.to_thread(self._journal.start, head, self._log[: self._written])
            self._durable = max(self._durable, covered)
        self._compacted_at = self._clock()
        self._compaction_took = self._compacted_at - started

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if task is self._compacting:
            self._compacting = None

    def save_in_background(self) -> None:
        """Start making the changes so far durable, without waiting for it."""
        self._start(self.durable())

    async def flush(self) -> None:
        """Return once every change is in the ledger file, and every background write has
        ended; the journal is then removed."""
        while self._background:
            await asyncio.gather(*self._background)
        await self._compact()
        async with self._lock:
            if not self._log and self._journal.started:
                await asyncio.to_thread(self._journal.remove)
