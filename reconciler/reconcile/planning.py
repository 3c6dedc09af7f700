"""The use cases that read only the files and the ledger: validate, plan, show, and saved plans
(`plan --out`, `apply PLANFILE`, `--expect-digest`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import LoadError, PlanChanged, PlanError, Problem, ReconcilerError, quoted
from reconciler.formats import files, jsonfile
from reconciler.reconcile.workspace import Workspace
from reconciler.records.loader import desired_digest

if TYPE_CHECKING:
    from reconciler.ledger.model import Ledger
    from reconciler.plan.model import Plan

# The ledger's and the plan's modules are imported by the use cases that need them: `validate`
# starts without them.


@dataclass(frozen=True)
class Validation:
    """What `validate` found: every problem (warnings too) and the number of valid records."""

    problems: list[Problem]
    records: int

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def validate(ws: Workspace) -> Validation:
    """Check every record file of the workspace."""
    try:
        records = ws.records
    except LoadError as exc:
        return Validation(exc.problems, 0)
    return Validation(records.warnings, len(records.desired))


def plan(ws: Workspace, ledger: Ledger | None = None, *, refreshed: bool = False) -> Plan:
    """A fresh plan of the files against `ledger` (default: the ledger on disk)."""
    from reconciler.plan.model import build_plan
    from reconciler.plan.saved import dependency_cycle

    file = ws.settings.file
    # The ledger first: reading it holds its file's bytes for a while, which are let go before
    # the files' records take their room (a no-op plan of 100,000 records peaks lower).
    current = ledger if ledger is not None else ws.ledger()
    built = build_plan(
        ws.desired,
        current,
        desired_digest=desired_digest(ws.desired),
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


def ledger(ws: Workspace) -> Ledger:
    """The environment's ledger as it is on disk (`show`)."""
    return ws.ledger()


def save_plan(path: Path, text: Iterable[str]) -> None:
    """Write a plan document (`plan --out`) atomically."""
    from reconciler.ledger import store as ledger_store

    try:
        ledger_store.atomic_write(path, text)
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
    from reconciler.plan.model import summary

    if expected is None or chosen.digest == expected:
        return
    raise PlanChanged(
        f"the plan for {chosen.environment} changed since it was reviewed, so nothing was "
        f"sent. Reviewed: {expected}. Now: {chosen.digest}, {summary(chosen)} "
        f"Review the new plan (reconciler plan --env {chosen.environment}) and apply that."
    )
