"""The use cases that read only the files and the ledger: validate, plan, show, and saved plans
(`plan --out`, `apply PLANFILE`, `--expect-digest`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import (
    LoadError,
    PlanChanged,
    PlanError,
    PolicyRefused,
    Problem,
    ReconcilerError,
    SettingsError,
    quoted,
)
from reconciler.formats import files, jsonfile
from reconciler.formats.atomic import atomic_write
from reconciler.reconcile.workspace import Workspace
from reconciler.records.loader import desired_digest
from reconciler.records.settings import SETTINGS_FILE

if TYPE_CHECKING:
    from reconciler.ledger.model import Ledger
    from reconciler.plan import Plan
    from reconciler.policy import Compiled, PolicyResult

# The ledger's, the plan's and the policies' modules are imported by the use cases that need
# them: `validate` starts without them (and without CEL when no policy is configured).


@dataclass(frozen=True)
class Validation:
    """What `validate` found: every problem (warnings too) and the number of valid records."""

    problems: list[Problem]
    records: int

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def validate(ws: Workspace) -> Validation:
    """Check every record file of the workspace, and compile every policy."""
    policies: list[Problem] = []
    if ws.settings.policies:
        from reconciler.policy import compile_problems
        from reconciler.records.policy_cache import kept_policies

        with kept_policies(ws.repo, enabled=ws.cache) as kept:
            policies = compile_problems(ws.settings.policies, SETTINGS_FILE, cache=kept)
    try:
        records = ws.records
    except LoadError as exc:
        return Validation([*policies, *exc.problems, *_settings_warnings(ws)], 0)
    return Validation([*policies, *records.warnings, *_settings_warnings(ws)], len(records.desired))


def _settings_warnings(ws: Workspace) -> list[Problem]:
    """What valid settings cannot do on this machine: `notify` without apprise installed. A
    warning, not an error: the records are fine, and a machine that only validates or plans
    (an editor, a pre-commit hook) sends no notification anyway."""
    try:
        settings = ws.settings
    except ReconcilerError:
        return []  # the records' load has reported it
    if not settings.file.notify:
        return []
    from reconciler.notify import INSTALL, available

    if available():
        return []
    return [
        Problem(
            SETTINGS_FILE,
            settings.lines.get("notify", 0),
            "notify is set, but apprise, which sends the notifications, is not installed here: "
            f"nothing will be sent. Install it with: {INSTALL}",
            severity="warning",
        )
    ]


def plan(ws: Workspace, ledger: Ledger | None = None, *, refreshed: bool = False) -> Plan:
    """A fresh plan of the files against `ledger` (default: the ledger on disk)."""
    from reconciler.plan.build import build_plan, dependency_cycle

    file = ws.settings.file
    # Whichever leaves its passing memory behind first, so the other is built in the room it
    # freed: the ledger when it is read from its file (its bytes are held for a while), else
    # the files' records (the stat index's rows). A no-op plan of 100,000 records peaks at
    # 270 MB, not 362 MB, when its ledger comes from the read cache.
    if ledger is None and not ws.ledger_store.read_is_light():
        ledger = ws.ledger()
    desired = ws.desired
    current = ledger if ledger is not None else ws.ledger()
    built = build_plan(
        desired,
        current,
        desired_digest=desired_digest(desired),
        missing=file.missing,
        max_deactivate_fraction=file.safety.max_deactivate_fraction,
        min_records_for_fraction=file.safety.min_records_for_fraction,
        refreshed=refreshed,
    )
    cycle = dependency_cycle({c.key: c.depends_on for c in built.changes})
    if cycle:
        # Only a hand-edited ledger can do this: the files' hierarchy is checked for cycles.
        raise PlanError(
            f"the records {' -> '.join(quoted(k) for k in cycle[:8])} wait for each other in a "
            "cycle, through the "
            f"parents the ledger {ws.environment.ledger} records: restore the ledger from git "
            f"(git checkout -- {ws.environment.ledger})"
        )
    return replace(built, warnings=tuple(str(w) for w in ws.records.warnings))


def compiled_policies(ws: Workspace) -> Compiled:
    """The policies of reconciler.yaml, compiled (each expression once per process); a
    SettingsError naming each one that is not valid CEL, at its line."""
    from reconciler.policy import PolicyCompileError, compile_policies
    from reconciler.records.policy_cache import kept_policies

    try:
        with kept_policies(ws.repo, enabled=ws.cache and bool(ws.settings.policies)) as kept:
            return compile_policies(ws.settings.policies, SETTINGS_FILE, cache=kept)
    except PolicyCompileError as exc:
        listed = "\n".join(f"  - {p}" for p in exc.problems)
        raise SettingsError(f"{SETTINGS_FILE} is invalid:\n{listed}") from None


def policy_results(ws: Workspace, plan: Plan) -> tuple[PolicyResult, ...]:
    """Every policy that applies to the plan's environment, evaluated over its changes."""
    if not ws.settings.policies:
        return ()
    from reconciler.policy import evaluate

    return evaluate(compiled_policies(ws), plan)


def hard_violations(results: Iterable[PolicyResult]) -> list[str]:
    """The names of the violated hard policies: `plan` fails (exit 1) on them."""
    from reconciler.policy import Level, violated

    return [r.name for r in violated(results, Level.HARD)]


def check_policies(
    ws: Workspace, plan: Plan, overrides: Iterable[str] = ()
) -> tuple[PolicyResult, ...]:
    """The plan's policy results; PolicyRefused when a hard policy is violated, or a soft one
    that `overrides` does not name. A name that is no policy's is an error: a typo must not
    look like a granted override."""
    from reconciler.policy import blocking
    from reconciler.render.policy import refusal_text

    wanted = list(overrides)
    known = {p.name for p in ws.settings.policies}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none are configured"
        raise PlanError(
            f"--override-policy names no policy of {SETTINGS_FILE}: "
            f"{', '.join(map(quoted, unknown))} (policies: {listed})"
        )
    results = policy_results(ws, plan)
    refusing = tuple(blocking(results, wanted))
    if refusing:
        raise PolicyRefused(
            refusal_text(plan.environment, refusing), blocking=refusing, results=results
        )
    return results


def ledger(ws: Workspace) -> Ledger:
    """The environment's ledger as it is on disk (`show`)."""
    return ws.ledger()


def save_plan(path: Path, text: Iterable[str]) -> None:
    """Write a plan document (`plan --out`) atomically."""
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def read_saved_plan(path: Path, ws: Workspace) -> Plan:
    """A plan saved with `plan --out`, for the workspace's environment."""
    from reconciler.plan import saved as saved_plan

    try:
        # The person names the file: it may be anywhere, but it must be a regular file.
        real = Path(os.path.realpath(path))
        raw = files.read_bytes(path, root=real.parent, limit=files.MAX_DOCUMENT_BYTES)
    except files.Unreadable as exc:
        raise PlanError(f"the saved plan {path} {exc}") from None
    except OSError as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc.strerror or exc}") from None
    try:
        document = jsonfile.loads(raw)
    except jsonfile.JsonProblem as exc:
        raise saved_plan.damaged(str(path), exc) from None
    saved = saved_plan.plan_from_document(document, name=str(path))
    _check_saved_digest(path, document, saved)
    if saved.environment != ws.env_name:
        raise PlanError(
            f"{path} is a plan for environment {saved.environment!r}: run "
            f"`reconciler apply --env {saved.environment} {path}`"
        )
    return saved


def _check_saved_digest(path: Path, document: object, saved: Plan) -> None:
    """A saved plan is applied only as it was made: its changes must give its plan digest."""
    written = document.get("plan_digest") if isinstance(document, dict) else None
    if written == saved.digest:
        return
    if written is None:
        why = "carries no plan_digest (it was made by an older reconciler, or edited)"
    else:
        why = (
            f"does not match its plan_digest: its changes give {saved.digest}, the file says "
            f"{quoted(written)}. The file was edited after `reconciler plan --out` wrote it"
        )
    raise PlanError(
        f"the saved plan {path} {why}. A saved plan is applied exactly as it was made and "
        "reviewed: make it again with `reconciler plan --out FILE`."
    )


def check_expected_digest(chosen: Plan, expected: str | None) -> None:
    """PlanChanged when `expected` is given and the plan has another digest."""
    from reconciler.render.plan import plan_summary

    if expected is None or chosen.digest == expected:
        return
    raise PlanChanged(
        f"the plan for {chosen.environment} changed since it was reviewed, so nothing was "
        f"sent. Reviewed: {expected}. Now: {chosen.digest}, {plan_summary(chosen)} "
        f"Review the new plan (reconciler plan --env {chosen.environment}) and apply that."
    )
