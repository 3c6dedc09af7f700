"""apply: carry out a plan against Redox with the ledger locked; and the Redox session helpers
that plan --refresh, drift and import share."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from reconciler import ledger as ledgers
from reconciler.cli.base import color, common
from reconciler.errors import PlanError, StalePlan
from reconciler.plan import Plan, check_safety, plan_from_document
from reconciler.render import render_text
from reconciler.workspace import Workspace


def credentials_from(environ: Mapping[str, str]) -> Any:
    """REDOX_* credentials of the process environment (None when unset)."""
    from reconciler.redox.auth import Credentials

    return Credentials.from_env(environ)


def session(ws: Workspace, environ: Mapping[str, str], concurrency: int | None = None) -> Any:
    """An async context manager yielding the environment's Redox client."""
    from reconciler.connect import connect

    return connect(
        ws,
        credentials=None if ws.env.is_sandbox else credentials_from(environ),
        base_url=environ.get("REDOX_BASE_URL") or None,
        concurrency=concurrency,
    )


async def refreshed_plan(ws: Workspace, environ: Mapping[str, str]) -> Plan:
    """A plan against what the directory really holds for every ledgered record."""
    from reconciler.drift import observe, refreshed

    ledger = ws.ledger()
    async with session(ws, environ) as api:
        seen = await observe(
            api,
            ledger,
            env=ws.target,
            source_id=environ.get("REDOX_SOURCE_ID") or None,
            concurrency=ws.settings.file.api.concurrency,
        )
    return ws.plan(refreshed(ledger, seen), refreshed=True)


def git_commit(repo: Path) -> str | None:
    """The repository's HEAD commit, recorded with each applied record (None outside git)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@click.command()
@click.argument(
    "planfile", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--yes", is_flag=True, help="Do not ask; required off a terminal and for protected.")
@click.option("--force", is_flag=True, help="Allow more deactivations than the safety limit.")
@click.option("--refresh", is_flag=True, help="Plan against what the directory really holds.")
@click.option("--target", "targets", multiple=True, metavar="OID", help="Apply only these.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None, help="Calls in flight.")
@common
def apply(
    ws: Workspace,
    planfile: Path | None,
    yes: bool,
    force: bool,
    refresh: bool,
    targets: tuple[str, ...],
    concurrency: int | None,
) -> int:
    """Apply a fresh plan, or exactly a saved one, to the environment."""
    saved = _read_saved(planfile, ws) if planfile else None
    if saved is not None and refresh:
        raise PlanError("a saved plan is applied exactly as it is: drop --refresh")
    if not yes and (ws.env.protected or not sys.stdin.isatty()):
        why = "it is protected" if ws.env.protected else "there is no terminal to confirm on"
        raise PlanError(
            f"apply to {ws.env_name} needs --yes because {why}. Review the plan first "
            f"(reconciler plan --env {ws.env_name})."
        )
    with ledgers.lock(ws.lock_path):
        return asyncio.run(
            _apply(
                ws,
                saved=saved,
                ask=not yes,
                force=force,
                refresh=refresh,
                targets=targets,
                concurrency=concurrency,
                environ=dict(os.environ),
            )
        )


def _read_saved(path: Path, ws: Workspace) -> Plan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc}") from None
    plan = plan_from_document(document)
    if plan.environment != ws.env_name:
        raise PlanError(
            f"{path} is a plan for environment {plan.environment!r}: run "
            f"`reconciler apply --env {plan.environment} {path}`"
        )
    return plan


async def _apply(
    ws: Workspace,
    *,
    saved: Plan | None,
    ask: bool,
    force: bool,
    refresh: bool,
    targets: tuple[str, ...],
    concurrency: int | None,
    environ: dict[str, str],
) -> int:
    from reconciler.apply import Applier, LedgerWriter
    from reconciler.drift import observe, refreshed

    workers = concurrency or ws.settings.file.api.concurrency
    source_id = environ.get("REDOX_SOURCE_ID") or None
    if saved is None:
        ws.desired  # noqa: B018 - invalid files fail here, before anything is sent
    async with session(ws, environ, concurrency=workers) as api:
        writer = LedgerWriter(ws.ledger_path, ws.ledger())
        progress = _Progress(interactive=sys.stderr.isatty())
        applier = Applier(
            api=api,
            writer=writer,
            env=ws.target,
            source_id=source_id,
            commit=git_commit(ws.repo),
            concurrency=workers,
            progress=progress,
        )
        await applier.resolve_intents()
        current = writer.state
        if saved is not None:
            if (saved.lineage, saved.serial) != (current.lineage, current.serial):
                raise StalePlan(
                    f"the saved plan was made against ledger serial {saved.serial} but the "
                    f"ledger is now at serial {current.serial}: another apply ran since. Make "
                    "a new plan (reconciler plan --out FILE) and review it."
                )
            plan = saved
        elif refresh:
            seen = await observe(
                api, current, env=ws.target, source_id=source_id, concurrency=workers
            )
            plan = ws.plan(refreshed(current, seen), refreshed=True)
        else:
            plan = ws.plan(current)
        if targets:
            unknown = [t for t in targets if not _known(t, ws, current)]
            if unknown:
                raise PlanError(f"--target names no record in the files or the ledger: {unknown}")
            plan = plan.only(targets)
        check_safety(plan, force=force)
        if plan.empty:
            click.echo("No changes: the directory matches the files. Nothing to apply.")
            return 0
        if saved is None or ask:
            click.echo(render_text(plan, color=color()), nl=False)
        if ask:
            answer = await asyncio.to_thread(
                click.prompt,
                f"\nApply these changes to {ws.env_name}? Only 'yes' is accepted",
                default="",
                show_default=False,
            )
            if answer.strip() != "yes":
                click.echo("Apply cancelled: nothing was sent.")
                return 1
        progress.total = len(plan.changes)
        result = await applier.run(plan)
        progress.finish()
    click.echo(result.summary())
    for outcome in result.outcomes:
        if outcome.status in {"failed", "skipped"}:
            click.echo(f"  {outcome.status}: {outcome.action} {outcome.key}: {outcome.message}")
    return 0 if result.ok else 1


def _known(target: str, ws: Workspace, ledger: ledgers.Ledger) -> bool:
    keys = set(ws.desired) | set(ledger.records)
    return target in keys or any(key.split(":", 1)[1] == target for key in keys)


class _Progress:
    """A progress line on a terminal; one log line per call otherwise (stderr)."""

    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive
        self.total = 0
        self.done = 0

    def __call__(self, outcome: Any) -> None:
        line = f"{outcome.status}: {outcome.action} {outcome.key}"
        if outcome.message:
            line += f" ({outcome.message})"
        if outcome.status in {"resolved", "dropped"}:
            click.echo(f"interrupted apply: {line}", err=True)
            return
        self.done += 1
        if self.interactive:
            click.echo(f"\r\x1b[K[{self.done}/{self.total}] {line}", err=True, nl=False)
        else:
            click.echo(line, err=True)

    def finish(self) -> None:
        if self.interactive and self.done:
            click.echo("", err=True)
