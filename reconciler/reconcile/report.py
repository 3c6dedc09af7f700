"""The directory report (SPEC 6 `report`): the data of `status`, `graph` and `history` for
every record, gathered once, and each environment's last audit entries; written as one page."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.formats import files
from reconciler.formats.atomic import atomic_write
from reconciler.git import reader as git
from reconciler.git.activity import recent_activity
from reconciler.model import Environment
from reconciler.plan import Plan
from reconciler.reconcile.views import environments, status_of
from reconciler.reconcile.workspace import Workspace
from reconciler.records.settings import SANDBOX, SANDBOX_DIR
from reconciler.views.graph import build_graph
from reconciler.views.report import AuditTrail, Report

HISTORY_EVENTS = 5  # per record
AUDIT_ENTRIES = 20  # per environment
_AUDIT_BYTES = 256 * 1024**2  # a larger audit file is not read: the page says so


def gather_report(
    ws: Workspace,
    *,
    sandbox: bool = False,
    history_events: int = HISTORY_EVENTS,
    audit_entries: int = AUDIT_ENTRIES,
    now: datetime | None = None,
) -> Report:
    """The report of the repository: every environment that `status` shows (`sandbox` too when
    asked), the hierarchy of the files (as read for --env, or the first environment), each
    record's newest `history_events` events and each environment's last `audit_entries`."""
    spaces = environments(ws, sandbox=sandbox)
    found = status_of(ws, spaces)
    base = spaces.get(ws.env_name) or next(iter(spaces.values()))
    env = base.environment
    # The states come from the status, for every environment at once: the graph needs no plan.
    unplanned = Plan(environment=env.name, lineage="", serial=0, desired_digest="", changes=())
    hierarchy = build_graph(
        base.desired,
        unplanned,
        gateways=env.gateway_oids,
        external=env.external_parents,
        attached=True,
    )
    activity = recent_activity(
        ws.repo,
        found.rows,
        env=env,
        desired=base.desired,
        # The sandbox's ledger is never committed.
        ledgers={name: s.environment.ledger for name, s in spaces.items() if name != SANDBOX},
        limit=history_events,
    )
    return Report(
        repository=ws.repo.resolve().name,
        generated_at=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        commit=git.last_commit(ws.repo) if git.in_repository(ws.repo) else None,
        status=found,
        graph=hierarchy,
        histories=activity.histories,
        history_limit=history_events,
        history_notes=activity.notes,
        audits=tuple(
            read_audit(ws.repo, space.environment, last=audit_entries) for space in spaces.values()
        ),
    )


def audit_path(env: Environment) -> str:
    """Where an environment's audit trail is, relative to the repository (SPEC 1.3)."""
    configured = getattr(env, "audit", None)  # once the settings have the `audit` key
    if isinstance(configured, str) and configured:
        return configured
    return f"{SANDBOX_DIR}/audit.jsonl" if env.name == SANDBOX else f"audit/{env.name}.jsonl"


def read_audit(repo: Path, env: Environment, *, last: int) -> AuditTrail:
    """The newest `last` entries of the environment's audit trail (JSON Lines), newest first;
    `exists` False when there is no trail yet. The one place the report reads the trail: the
    audit package's reader takes its place."""
    shown = audit_path(env)
    path = repo / shown
    if not path.exists():
        return AuditTrail(env.name, shown, exists=False)
    try:
        raw = files.read_bytes(path, root=repo.resolve(), limit=_AUDIT_BYTES)
    except files.Unreadable as exc:
        return AuditTrail(env.name, shown, exists=True, problems=(f"{shown} {exc}",))
    except OSError as exc:
        problem = f"cannot read {shown}: {exc.strerror or exc}"
        return AuditTrail(env.name, shown, exists=True, problems=(problem,))
    lines = [(n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    entries = []
    problems = []
    for number, line in reversed(lines[-last:] if last else []):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            entry = None
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            problems.append(f"{shown}, line {number}: not a JSON object")
    return AuditTrail(
        env.name,
        shown,
        exists=True,
        entries=tuple(entries),
        total=len(lines),
        problems=tuple(problems),
    )


def save_report(folder: Path, pages: Iterable[str]) -> Path:
    """Write the report page as `folder/index.html`, atomically; the path written."""
    path = folder / "index.html"
    try:
        if folder.exists() and not folder.is_dir():
            raise ReconcilerError(
                f"cannot write the report to {folder}: it is a file, not a folder: "
                "name a folder with --out"
            )
        atomic_write(path, pages)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path
