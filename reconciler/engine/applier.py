"""Run a Plan through a Redox client, recording an intent before each call and the ledger after.

Crash safety: before a call its intent is durable (in the apply journal, reconciler.ledger.journal);
after a success the record is written too (calls do not wait for that write: until it lands,
the intent stands for the call). A run that dies between the two leaves the intent, and the
next apply replays the journal into the ledger and resolves the intent by querying the
directory (`resolve_intents`), so a call that landed is not repeated and one that did not is
not skipped.

Interruption: once `stop` is set, no new call starts; the calls in flight may finish within
`grace` seconds, and those still running then are cancelled, their intents left for the next
run. The result says which changes were applied, failed, not started or left in flight.

Ownership (SPEC 2): a Create answered "already exists" is adopted when the directory's record
is as planned, overwritten only when this tool sent that Create itself (a retry after a lost
reply, or an intent an interrupted run left) or `adopt_existing` says so, and refused
otherwise; `managing_org` guards every path. Verification: with `verify`, each record is
recorded as unverified until engine.verify reads it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.lookup import Found, Wanted, look_up_all
from reconciler.engine.ownership import decide, foreign
from reconciler.engine.result import Existing, Outcome, Result, Status
from reconciler.engine.stopping import until_stopped
from reconciler.errors import AlreadyExists, AuthError, RedoxError
from reconciler.kinds import kind_of
from reconciler.ledger.model import Intent, make_entry, now
from reconciler.ledger.writer import LedgerWriter
from reconciler.model import Action, Environment, Key
from reconciler.plan import Change, Plan
from reconciler.redox.api import RedoxApi, RedoxLog, redox_log

log = logging.getLogger(__name__)

Progress = Callable[[Outcome], None]

# Intents are made durable for up to LOOKAHEAD x concurrency changes, so calls find their intent
# on disk instead of each waiting for a ledger write; a crash leaves at most that many to resolve.
LOOKAHEAD = 4


@dataclass
class _Sent:
    """What a change's calls came to: its status and note, the answers' logs, whether Redox
    accepted a write of it (so it is read back), and for a refusal what the directory holds."""

    status: Status
    note: str = ""
    logs: list[RedoxLog] = field(default_factory=list)
    written: bool = True
    existing: Existing | None = None


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
    # Set (by a signal) to stop: no new call starts, and the calls in flight get `grace`
    # seconds (api.timeout) to finish before they are cancelled.
    stop: asyncio.Event | None = None
    grace: float = 60.0
    # Ownership: overwrite a record created elsewhere (--adopt-existing); never overwrite or
    # adopt one whose ManagingOrg is not this (reconciler.yaml's managing_org).
    adopt_existing: bool = False
    managing_org: str | None = None
    # Record each change as unverified until engine.verify reads it back.
    verify: bool = True
    # Set by the first authentication failure: no later call could succeed, so none is sent.
    refused: AuthError | None = field(default=None, init=False)
    _settled: set[Key] = field(default_factory=set, init=False)
    # Records whose Create this tool sent, outcome unknown: an interrupted run's intents that a
    # query could not settle (the change may not be visible yet).
    _ours: set[Key] = field(default_factory=set, init=False)

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _report(self, outcome: Outcome) -> None:
        self.result.outcomes.append(outcome)
        self._settled.add(outcome.key)
        if outcome.status != "not_started":  # not a call: nothing to show as progress
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
        looking = look_up_all(self.api, wanted, env=self.env, concurrency=self.concurrency)
        found = await until_stopped(self.stop, looking)
        for key, seen in zip(keys, found, strict=True):
            self._settle(key, pending[key], seen)
        await self.writer.flush()  # settled in the ledger file, whatever happens next

    def _settle(self, key: Key, intent: Intent, found: Found) -> None:
        """Record what an intent's call did, as the directory shows it."""
        kind = kind_of(intent.kind)
        created = key not in self.writer.state.records
        if found is not None and created and foreign(kind, found, self.managing_org):
            # Never recorded as ours: the plan creates it again, and the Create is refused.
            self._drop(key, intent, "the directory's record is managed by another organization")
        elif found is not None and kind.proven(found, intent.payload):
            self._resolved(key, intent, intent.payload, "the call had landed")
        elif found is not None and created:
            # Created, but not provably as intended: record what a query shows (never a
            # field it cannot show), so the plan sends the full record as an Update.
            payload = kind.comparable(found, intent.payload)
            self._resolved(
                key, intent, payload, "the record exists but may differ: it will be updated"
            )
        else:
            if found is None and intent.action == Action.CREATE.value:
                # It may only not show yet: "already exists" then answers this tool's Create.
                self._ours.add(key)
            self._drop(key, intent, "the call had not landed")

    def _resolved(self, key: Key, intent: Intent, payload: dict[str, Any], note: str) -> None:
        """Record an intent's call as the directory shows it (a query just read it back)."""
        entry = make_entry(
            kind=intent.kind,
            identity=intent.identity,
            envelope=intent.envelope,
            payload=payload,
            active=kind_of(intent.kind).is_active(payload),
            source=intent.source,
            commit=self.commit,
        )
        self.writer.update(lambda ledger: ledger.with_entry(key, entry))
        self._report(Outcome(key, intent.action, "resolved", note))

    def _drop(self, key: Key, intent: Intent, note: str) -> None:
        self.writer.update(lambda ledger: ledger.without_intent(key))
        self._report(Outcome(key, intent.action, "dropped", note))

    async def run(self, plan: Plan) -> Result:
        """Apply every change, parents first; a failure skips only the changes that need it.
        Once `stop` is set no new call starts (see the module's docstring)."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        # True: done; False: failed or skipped; None: not carried out (stopped).
        finished: dict[Key, asyncio.Future[bool | None]] = {
            c.key: loop.create_future() for c in plan.changes
        }
        window = asyncio.Semaphore(self.concurrency * LOOKAHEAD)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(change: Change) -> None:
            ok: bool | None = None
            try:
                needed = [finished[k] for k in change.depends_on if k in finished]
                results = [await f for f in needed]
                if any(r is False for r in results):
                    ok = False
                    self._report(
                        Outcome(
                            change.key,
                            change.action.value,
                            "skipped",
                            "a record it depends on failed",
                        )
                    )
                    return
                if self.stopped or None in results:
                    self._not_started(change)
                    return
                async with window:
                    if self.stopped:
                        self._not_started(change)
                        return
                    ok = await self._apply(change, gate)
            except asyncio.CancelledError:
                if change.key not in self._settled:
                    self._not_started(change)
                raise
            finally:
                if not finished[change.key].done():
                    finished[change.key].set_result(ok)

        tasks = [loop.create_task(one(c)) for c in plan.changes]
        try:
            await self._until_done_or_stopped(tasks)
        except BaseException:
            for task in tasks:  # never left running behind the caller's back
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for task in tasks:
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure  # a bug: never swallowed
        await self.writer.flush()
        self.result.interrupted = self.stopped
        self.result.ledger = self.writer.state
        self.result.elapsed = time.monotonic() - started
        return self.result

    async def _until_done_or_stopped(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for every task; once stopped, for `grace` seconds more at most, then cancel."""
        if not tasks:
            return
        if self.stop is None:
            await asyncio.wait(tasks)
            return
        stopping = asyncio.ensure_future(self.stop.wait())
        everything = asyncio.ensure_future(asyncio.wait(tasks))
        try:
            await asyncio.wait({stopping, everything}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (stopping, everything):
                waiter.cancel()
            await asyncio.gather(stopping, everything, return_exceptions=True)
        running = [t for t in tasks if not t.done()]
        if not running:
            return
        log.debug("stopped: waiting up to %gs for %d calls in flight", self.grace, len(running))
        _, late = await asyncio.wait(running, timeout=self.grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _apply(self, change: Change, gate: asyncio.Semaphore) -> bool | None:
        """True: done; False: failed or not sent; None: not started (the apply was stopped)."""
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
        bodies = kind.requests(
            change.action,
            change.envelope,
            change.after,
            before=change.before,
            destination=destination,
        )
        try:
            await self.writer.durable()
            await gate.acquire()
        except asyncio.CancelledError:
            self._not_started(change)
            raise
        try:
            if self.refused is not None:
                self.writer.update(lambda ledger: ledger.without_intent(change.key))
                return self._not_sent(change)
            if self.stopped:
                self._not_started(change)
                return None
            sent = await self._send(change, bodies, destination)
        except asyncio.CancelledError:
            # Sent, outcome unknown: the intent stays, and the next apply settles it.
            message = "in flight when the apply stopped: the next apply settles it"
            self._report(Outcome(change.key, change.action.value, "in_flight", message))
            raise
        finally:
            gate.release()
        if sent is None:
            return False
        last = sent.logs[-1] if sent.logs else None
        outcome = Outcome(
            change.key,
            change.action.value,
            sent.status,
            sent.note,
            redox_log_id=last.id if last else None,
            redox_attempt_id=last.attempt_id if last else None,
            redox_log_ids=tuple(log.id for log in sent.logs),
            existing=sent.existing,
        )
        if sent.status == "refused":
            # Redox refused the Create: nothing landed, nothing is left to resolve.
            self.writer.update(lambda ledger: ledger.without_intent(change.key))
            self.writer.save_in_background()
            self._report(outcome)
            return False
        self._record(change, unverified=self.verify and sent.written)
        if sent.written:
            self.result.written.append(change.key)
        # Not awaited: until this write lands, the durable intent stands for the call.
        self.writer.save_in_background()
        self._report(outcome)
        return True

    async def _send(
        self, change: Change, bodies: list[dict[str, Any]], destination: str
    ) -> _Sent | None:
        """Send a change's requests: what they came to, or None when one failed."""
        logs: list[RedoxLog] = []
        try:
            for body in bodies:
                await self._call(body, logs)
        except AlreadyExists as exc:
            if change.action != Action.CREATE:
                self._failed(change, exc, logs)
                return None
            try:
                return await self._resolve_existing(change, destination, exc, logs)
            except RedoxError as again:
                self._failed(change, again, logs)
                return None
        except RedoxError as exc:
            self._failed(change, exc, logs)
            return None
        return _Sent("applied", logs=logs)

    async def _call(self, body: dict[str, Any], logs: list[RedoxLog]) -> None:
        """Send one request; its answer's Meta.Logs goes into `logs` (a refusal's too)."""
        try:
            reply = await self.api.send(body)
        except RedoxError as exc:
            if exc.log_id is not None:
                logs.append(RedoxLog(exc.log_id, exc.attempt_id))
            raise
        log = redox_log(reply)
        if log is not None:
            logs.append(log)

    async def _resolve_existing(
        self, change: Change, destination: str, exc: AlreadyExists, logs: list[RedoxLog]
    ) -> _Sent:
        """A Create answered "already exists": look, then adopt, overwrite or refuse the
        record (engine.ownership decides)."""
        kind = kind_of(change.kind)
        planned = change.after
        found = await kind.look_up(
            self.api, change.identity, envelope=change.envelope, like=planned, env=self.env
        )
        # This tool's own Create: an earlier attempt of it went unanswered in this run, or an
        # interrupted run left its intent.
        ours = exc.earlier_unknown or change.key in self._ours
        decision = decide(
            kind,
            found,
            planned,
            ours=ours,
            adopt_existing=self.adopt_existing,
            managing_org=self.managing_org,
        )
        if decision.verdict == "refuse":
            existing = decision.existing
            return _Sent("refused", "created elsewhere", logs, written=False, existing=existing)
        if decision.verdict == "adopt":
            return _Sent("adopted", "already in the directory as planned", logs, written=False)
        await self._call(
            kind.request(Action.UPDATE, change.envelope, planned, destination=destination), logs
        )
        if decision.verdict == "adopt_and_update":
            note = "already in the directory as planned; an Update sent what a query cannot show"
            return _Sent("adopted", note, logs)
        why = "this tool's own Create had landed" if ours else "--adopt-existing"
        return _Sent("overwritten", f"already in the directory otherwise ({why})", logs)

    def _record(self, change: Change, *, unverified: bool) -> None:
        entry = make_entry(
            kind=change.kind,
            identity=change.identity,
            envelope=change.envelope,
            payload=change.after,
            active=kind_of(change.kind).is_active(change.after),
            source=change.source,
            commit=self.commit,
            unverified=unverified,
        )
        self.writer.update(lambda ledger: ledger.with_entry(change.key, entry))

    def _failed(self, change: Change, exc: RedoxError, logs: Sequence[RedoxLog] = ()) -> bool:
        if isinstance(exc, AuthError) and self.refused is None:
            self.refused = exc
        if not exc.retryable or isinstance(exc, AuthError):
            # Redox answered, or was never reached (no token): the call did not land, so
            # nothing is left to resolve.
            self.writer.update(lambda ledger: ledger.without_intent(change.key))
            self.writer.save_in_background()
        ids = tuple(log.id for log in logs)
        if exc.log_id is not None and exc.log_id not in ids:
            ids += (exc.log_id,)
        outcome = Outcome(
            change.key,
            change.action.value,
            "failed",
            str(exc),
            redox_log_id=exc.log_id,
            redox_attempt_id=exc.attempt_id,
            redox_log_ids=ids,
        )
        self._report(outcome)
        return False

    def _not_started(self, change: Change) -> None:
        """Report a change that the stop kept from being sent; its intent, if any, goes."""
        if change.key in self.writer.state.intents:
            self.writer.update(lambda ledger: ledger.without_intent(change.key))
        self._report(Outcome(change.key, change.action.value, "not_started", "stopped first"))

    def _not_sent(self, change: Change) -> bool:
        message = "not sent: authentication failed on an earlier call"
        self._report(Outcome(change.key, change.action.value, "skipped", message))
        return False
