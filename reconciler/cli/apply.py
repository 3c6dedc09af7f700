"""apply: carry out a plan against Redox with the environment locked."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from reconciler import reconcile
from reconciler.cli.base import color, common, environ
from reconciler.connect import session
from reconciler.errors import PlanError
from reconciler.git import head_commit
from reconciler.reconcile import Applied
from reconciler.render import render_text
from reconciler.workspace import Workspace


@click.command()
@click.argument(
    "planfile", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--yes", is_flag=True, help="Do not ask; required off a terminal and for protected.")
@click.option("--force", is_flag=True, help="Allow more deactivations than the safety limit.")
@click.option("--refresh", is_flag=True, help="Plan against what the directory really holds.")
@click.option("--target", "targets", multiple=True, metavar="OID", help="Apply only these.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None, help="Calls in flight.")
@click.option(
    "--expect-digest",
    metavar="sha256:HEX",
    callback=lambda _ctx, _param, value: _digest_option(value),
    help="Refuse, sending nothing, unless the plan has this digest (the reviewed plan's).",
)
@common
def apply(
    ws: Workspace,
    planfile: Path | None,
    yes: bool,
    force: bool,
    refresh: bool,
    targets: tuple[str, ...],
    concurrency: int | None,
    expect_digest: str | None,
) -> int:
    """Apply a fresh plan, or exactly a saved one, to the environment."""
    saved = reconcile.read_saved_plan(planfile, ws) if planfile else None
    if not yes and (ws.environment.protected or not sys.stdin.isatty()):
        why = (
            "it is protected" if ws.environment.protected else "there is no terminal to confirm on"
        )
        raise PlanError(
            f"apply to {ws.env_name} needs --yes because {why}. Review the plan first "
            f"(reconciler plan --env {ws.env_name})."
        )
    workers = concurrency or ws.settings.file.api.concurrency
    progress = _Progress(interactive=sys.stderr.isatty())

    def review(plan: reconcile.Plan) -> bool:
        if saved is None or not yes:
            click.echo(render_text(plan, color=color()), nl=False)
        if not yes:
            answer = click.prompt(
                f"\nApply these changes to {ws.env_name}? Only 'yes' is accepted",
                default="",
                show_default=False,
            )
            if answer.strip() != "yes":
                return False
        progress.total = len(plan.changes)
        return True

    async def run() -> Applied:
        async with session(ws, environ(), concurrency=workers, lock="apply") as api:
            return await reconcile.apply(
                ws,
                api,
                saved=saved,
                refresh=refresh,
                targets=targets,
                force=force,
                review=review,
                progress=progress,
                commit=head_commit(ws.repo),
                concurrency=workers,
                expect_digest=expect_digest,
            )

    applied = asyncio.run(run())
    progress.finish()
    if applied.status == "no_changes":
        click.echo("No changes: the directory matches the files. Nothing to apply.")
        return 0
    if applied.status == "declined":
        click.echo("Apply cancelled: nothing was sent.")
        return 1
    result = applied.result
    click.echo(result.summary())
    for outcome in result.outcomes:
        if outcome.status in {"failed", "skipped"}:
            click.echo(f"  {outcome.status}: {outcome.action} {outcome.key}: {outcome.message}")
    return 0 if applied.ok else 1


def _digest_option(value: str | None) -> str | None:
    if value is not None and not reconcile.DIGEST_PATTERN.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a plan digest: write sha256: and 64 lowercase hex digits, as "
            "`reconciler plan` prints it"
        )
    return value


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
