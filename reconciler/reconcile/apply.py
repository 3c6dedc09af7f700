"""The apply use case: settle what an interrupted run left, plan (or take the saved plan), check
it, let the person review it, carry it out (reconciler.apply.Applier makes the calls).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from reconciler.errors import PlanChanged, PlanError, PolicyRefused, StalePlan
from reconciler.ledger.model import Ledger
from reconciler.plan import Plan, check_safety, unsafe_reason
from reconciler.policy import PolicyResult, overridden
from reconciler.reconcile.observe import look_up_ledger_share
from reconciler.reconcile.planning import check_expected_digest, check_policies, plan
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import RedoxApi
from reconciler.views.drift import refreshed_ledger

if TYPE_CHECKING:
    import asyncio

    from reconciler.engine.applier import Applier, Progress
    from reconciler.engine.result import Result
    from reconciler.reconcile.audit import SignOff


Review = Callable[[Plan], bool]


@dataclass(frozen=True)
class Applied:
    """What an apply did. `plan` is what was (or would have been) applied; `result` holds every
    outcome, the settling of calls an earlier run left unresolved included. "interrupted":
    stopped by `stop` (before the plan was carried out, or part way: see `result`)."""

    status: Literal["no_changes", "declined", "applied", "interrupted"]
    plan: Plan | None
    result: Result
    policies: tuple[PolicyResult, ...] = ()  # the plan's policy results (advisory ones shown)
    policy_overrides: tuple[str, ...] = ()  # violated soft policies let through: for the audit

    @property
    def ok(self) -> bool:
        return self.status in {"no_changes", "applied"} and self.result.ok


@dataclass(frozen=True)
class _Asked:
    """What the person asked of one apply, beside the workspace and the API."""

    saved: Plan | None
    refresh: bool
    targets: tuple[str, ...]
    force: bool
    review: Review
    expect_digest: str | None
    overrides: tuple[str, ...]
    sign_off: SignOff
    commit: str | None


async def apply(
    ws: Workspace,
    api: RedoxApi,
    *,
    saved: Plan | None = None,
    refresh: bool = False,
    targets: Iterable[str] = (),
    force: bool = False,
    review: Review = lambda plan: True,
    progress: Progress = lambda outcome: None,
    commit: str | None = None,
    concurrency: int,
    expect_digest: str | None = None,
    stop: asyncio.Event | None = None,
    overrides: Iterable[str] = (),
    adopt_existing: bool = False,
    verify: bool | None = None,
    sign_off: SignOff | None = None,
) -> Applied:
    """Settle what an interrupted apply left, plan (or take the saved plan, if the ledger has
    not moved since), check it (against `expect_digest`, the reviewed plan's digest, when
    given), let `review` see it and say yes, carry it out, then read back what changed
    (`verify`; default: verify.enabled). The caller holds the environment's lock for the whole
    of it. Once `stop` is set no new call starts, the calls in flight get api.timeout to
    finish, and the result says what was done. Policies refuse (PolicyRefused) a hard
    violation, and a soft one that `overrides` does not name. `adopt_existing`: a Create
    answered "already exists" overwrites a record created elsewhere (never one managing_org
    forbids). The audit trail gets a line for an apply that sent a call, and for one refused
    (digest, policy), naming `sign_off`'s actor, pull request and approvers."""
    from reconciler.engine.applier import Applier
    from reconciler.engine.stopping import Stopped
    from reconciler.reconcile.audit import SignOff  # the trail: not for validate's start-up

    if saved is not None and refresh:
        raise PlanError("a saved plan is applied exactly as it is: drop --refresh")
    if saved is None:
        ws.desired  # noqa: B018 - invalid files fail here, before anything is sent
    # A trail that cannot take this apply's line refuses it now, before any call.
    ws.audit_trail().prepare()
    writer = ws.ledger_store.recover()
    settings = ws.settings.file
    applier = Applier(
        api=api,
        writer=writer,
        env=ws.environment,
        commit=commit,
        concurrency=concurrency,
        progress=progress,
        stop=stop,
        grace=settings.api.timeout,
        adopt_existing=adopt_existing,
        managing_org=settings.managing_org,
        verify=settings.verify.enabled if verify is None else verify,
    )
    asked = _Asked(
        saved=saved,
        refresh=refresh,
        targets=tuple(targets),
        force=force,
        review=review,
        expect_digest=expect_digest,
        overrides=tuple(overrides),
        sign_off=sign_off or SignOff(),
        commit=commit,
    )
    try:
        return await _apply(ws, api, applier, asked)
    except Stopped:
        # Only reads were cut short: nothing was sent, and intents stay for the next run.
        await writer.flush()
        applier.result.interrupted = True
        applier.result.ledger = writer.state
        return Applied("interrupted", None, applier.result)


async def _apply(ws: Workspace, api: RedoxApi, applier: Applier, asked: _Asked) -> Applied:
    from reconciler.engine.stopping import Stopped
    from reconciler.engine.verify import verify_applied
    from reconciler.reconcile.audit import record_apply, record_refusal

    await applier.resolve_intents()
    chosen = await _choose(ws, api, applier, asked)
    try:
        check_expected_digest(chosen, asked.expect_digest)
        check_safety(chosen, force=asked.force)
        policies = check_policies(ws, chosen, asked.overrides)
    except (PlanChanged, PolicyRefused):
        record_refusal(ws, asked.sign_off, plan=chosen, commit=asked.commit)
        raise
    used = overridden(policies, asked.overrides)
    if chosen.empty:
        return Applied("no_changes", chosen, applier.result, policies)
    if applier.stopped:
        raise Stopped
    if not asked.review(chosen):
        return Applied("declined", chosen, applier.result, policies, used)
    result = await applier.run(chosen)
    result.verification = await verify_applied(
        applier, enabled=applier.verify, timeout=ws.settings.file.verify.timeout
    )
    record_apply(
        ws, asked.sign_off, plan=chosen, result=result, commit=asked.commit, policy_overrides=used
    )
    if result.interrupted:
        return Applied("interrupted", chosen, result, policies, used)
    return Applied("applied", chosen, result, policies, used)


async def _choose(ws: Workspace, api: RedoxApi, applier: Applier, asked: _Asked) -> Plan:
    """The plan to apply: the saved one (if the ledger has not moved since it was made), or a
    fresh one (against what the directory holds, with `refresh`), cut to the targets."""
    from reconciler.engine.stopping import until_stopped

    current = applier.writer.state
    if asked.saved is not None:
        saved = asked.saved
        if (saved.lineage, saved.serial) != (current.lineage, current.serial):
            raise StalePlan(
                f"the saved plan was made against ledger serial {saved.serial} but the "
                f"ledger is now at serial {current.serial}: another apply ran since. Make "
                f"a new plan (`reconciler plan --env {ws.env_name} --out FILE`) and review it."
            )
        # The guard is decided again, from the plan's changes and this ledger (the one it was
        # made against) under today's settings: the file's `unsafe` is not covered by its
        # digest, so an edit to it must not lift the guard.
        safety = ws.settings.file.safety
        unsafe = unsafe_reason(
            saved.changes, current, safety.max_deactivate_fraction, safety.min_records_for_fraction
        )
        chosen = replace(saved, unsafe=unsafe)
    elif asked.refresh:
        looking = look_up_ledger_share(ws, api, current, concurrency=applier.concurrency)
        seen = await until_stopped(applier.stop, looking)
        chosen = plan(ws, refreshed_ledger(current, seen), refreshed=True)
    else:
        chosen = plan(ws, current)
    if asked.targets:
        unknown = [t for t in asked.targets if not _known(t, ws, current)]
        if unknown:
            raise PlanError(f"--target names no record in the files or the ledger: {unknown}")
        chosen = chosen.only(asked.targets)
    return chosen


def _known(target: str, ws: Workspace, current: Ledger) -> bool:
    keys = set(ws.desired) | set(current.records)
    return target in keys or any(key.split(":", 1)[1] == target for key in keys)
