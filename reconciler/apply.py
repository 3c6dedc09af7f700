"""Run a Plan through a Redox client, recording an intent before each call and the ledger after.

Crash safety: before a call its intent is durable (in the apply journal, reconciler.journal);
after a success the record is written too (calls do not wait for that write: until it lands,
the intent stands for the call). A run that dies between the two leaves the intent, and the
next apply replays the journal into the ledger and resolves the intent by querying the
directory (`resolve_intents`), so a call that landed is not repeated and one that did not is
not skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from reconciler import ledger_store
from reconciler.errors import AlreadyExists, AuthError, RedoxError
from reconciler.journal import JournalFile, change_line, header_line
from reconciler.kinds import kind_of
from reconciler.ledger import Edit, Intent, Ledger, make_entry, now
from reconciler.lookup import Found, Wanted, look_up_all
from reconciler.model import Action, Environment, Key
from reconciler.plan import Change, Plan
from reconciler.redox_api import RedoxApi

log = logging.getLogger(__name__)

Status = Literal["applied", "adopted", "failed", "skipped", "resolved", "dropped"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one change (or one intent left by an earlier run)."""

    key: Key
    action: str
    status: Status
    message: str = ""


@dataclass
class Result:
    """Every outcome of an apply, in the order they happened, and the final ledger."""

    outcomes: list[Outcome] = field(default_factory=list)
    ledger: Ledger | None = None

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not any(o.status in {"failed", "skipped"} for o in self.outcomes)

    def summary(self) -> str:
        done = self.count("applied") + self.count("adopted")
        return (
            f"Apply complete: {done} applied ({self.count('adopted')} already in the directory), "
            f"{self.count('failed')} failed, {self.count('skipped')} skipped."
        )


Progress = Callable[[Outcome], None]

# Intents are made durable for up to LOOKAHEAD x concurrency changes, so calls find their intent
# on disk instead of each waiting for a ledger write; a crash leaves at most that many to resolve.
LOOKAHEAD = 4
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
            saved = await asyncio.to_thread(ledger_store.save, self.path, snapshot)
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


@dataclass
class Applier:
    """Everything one apply needs; `run` carries out a plan."""

    api: RedoxApi
    writer: LedgerWriter
    env: Environment
    commit: str | None = None
    concurrency: int = 8
    progress: Progress = lambda outcome: None
    result: Result = field(default_factory=Result)
    # Set by the first authentication failure: no later call could succeed, so none is sent.
    refused: AuthError | None = field(default=None, init=False)

    def _report(self, outcome: Outcome) -> None:
        self.result.outcomes.append(outcome)
        self.progress(outcome)

    async def resolve_intents(self) -> None:
        """Settle the calls an interrupted apply left without a known outcome."""
        pending = dict(self.writer.state.intents)
        if not pending:
            return
        log.info("resolving %d call(s) left by an interrupted apply", len(pending))
        keys = sorted(pending)
        wanted = [
            Wanted(i.kind, i.identity, i.envelope, i.payload) for i in (pending[k] for k in keys)
        ]
        found = await look_up_all(self.api, wanted, env=self.env, concurrency=self.concurrency)
        for key, seen in zip(keys, found, strict=True):
            self._settle(key, pending[key], seen)
        await self.writer.flush()  # settled in the ledger file, whatever happens next

    def _settle(self, key: Key, intent: Intent, found: Found) -> None:
        """Record what an intent's call did, as the directory shows it."""
        kind = kind_of(intent.kind)
        if found is not None and kind.proven(found, intent.payload):
            payload, note = intent.payload, "the call had landed"
        elif found is not None and key not in self.writer.state.records:
            # Created, but not provably as intended: record what a query shows (never a
            # field it cannot show), so the plan sends the full record as an Update.
            payload = kind.comparable(found, intent.payload)
            note = "the record exists but may differ: it will be updated"
        else:
            self.writer.update(lambda ledger: ledger.without_intent(key))
            self._report(Outcome(key, intent.action, "dropped", "the call had not landed"))
            return
        entry = make_entry(
            kind=intent.kind,
            identity=intent.identity,
            envelope=intent.envelope,
            payload=payload,
            active=kind.is_active(payload),
            source=intent.source,
            commit=self.commit,
        )
        self.writer.update(lambda ledger: ledger.with_entry(key, entry))
        self._report(Outcome(key, intent.action, "resolved", note))

    async def run(self, plan: Plan) -> Result:
        """Apply every change, parents first; a failure skips only the changes that need it."""
        finished: dict[Key, asyncio.Future[bool]] = {
            c.key: asyncio.get_running_loop().create_future() for c in plan.changes
        }
        window = asyncio.Semaphore(self.concurrency * LOOKAHEAD)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(change: Change) -> None:
            ok = False
            try:
                needed = [finished[k] for k in change.depends_on if k in finished]
                results = [await f for f in needed]
                if not all(results):
                    self._report(
                        Outcome(
                            change.key,
                            change.action.value,
                            "skipped",
                            "a record it depends on failed",
                        )
                    )
                    return
                async with window:
                    ok = await self._apply(change, gate)
            finally:
                finished[change.key].set_result(ok)

        await asyncio.gather(*(one(c) for c in plan.changes))
        await self.writer.flush()
        self.result.ledger = self.writer.state
        return self.result

    async def _apply(self, change: Change, gate: asyncio.Semaphore) -> bool:
        kind = kind_of(change.kind)
        destination = self.env.destination(kind.name)
        if not destination:
            message = f"environment {self.env.name} has no {kind.destination_setting}"
            self._report(Outcome(change.key, change.action.value, "failed", message))
            return False
        if self.refused is not None:
            return self._not_sent(change)
        intent = Intent(
            kind=change.kind,
            identity=change.identity,
            action=change.action.value,
            envelope=change.envelope,
            payload=change.after,
            source=change.source,
            started_at=now(),
        )
        self.writer.update(lambda ledger: ledger.with_intent(change.key, intent))
        await self.writer.durable()
        bodies = kind.requests(
            change.action,
            change.envelope,
            change.after,
            before=change.before,
            destination=destination,
        )
        status: Status = "applied"
        note = ""
        async with gate:
            if self.refused is not None:
                self.writer.update(lambda ledger: ledger.without_intent(change.key))
                return self._not_sent(change)
            try:
                for body in bodies:
                    await self.api.send(body)
            except AlreadyExists as exc:
                if change.action != Action.CREATE:
                    return self._failed(change, exc)
                try:
                    status, note = await self._resolve_existing(change, destination)
                except RedoxError as again:
                    return self._failed(change, again)
            except RedoxError as exc:
                return self._failed(change, exc)
        self._record(change)
        # Not awaited: until this write lands, the durable intent stands for the call.
        self.writer.save_in_background()
        self._report(Outcome(change.key, change.action.value, status, note))
        return True

    async def _resolve_existing(self, change: Change, destination: str) -> tuple[Status, str]:
        """A Create answered "already exists": look, then adopt it or bring it up to date."""
        kind = kind_of(change.kind)
        found = await kind.look_up(
            self.api, change.identity, envelope=change.envelope, like=change.after, env=self.env
        )
        if found is not None and kind.proven(found, change.after):
            return "adopted", "already in the directory as planned"
        update = kind.request(Action.UPDATE, change.envelope, change.after, destination=destination)
        await self.api.send(update)
        return "applied", "already existed, not provably as planned: sent an Update"

    def _record(self, change: Change) -> None:
        entry = make_entry(
            kind=change.kind,
            identity=change.identity,
            envelope=change.envelope,
            payload=change.after,
            active=kind_of(change.kind).is_active(change.after),
            source=change.source,
            commit=self.commit,
        )
        self.writer.update(lambda ledger: ledger.with_entry(change.key, entry))

    def _failed(self, change: Change, exc: RedoxError) -> bool:
        if isinstance(exc, AuthError) and self.refused is None:
            self.refused = exc
        if not exc.retryable or isinstance(exc, AuthError):
            # Redox answered, or was never reached (no token): the call did not land, so
            # nothing is left to resolve.
            self.writer.update(lambda ledger: ledger.without_intent(change.key))
            self.writer.save_in_background()
        self._report(Outcome(change.key, change.action.value, "failed", str(exc)))
        return False

    def _not_sent(self, change: Change) -> bool:
        message = "not sent: authentication failed on an earlier call"
        self._report(Outcome(change.key, change.action.value, "skipped", message))
        return False
