"""validate, plan, show, schema: the commands that read files and the ledger, and never Redox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler import reconcile
from reconciler.cli.base import color, common, environ
from reconciler.kinds import KINDS
from reconciler.reconcile.workspace import Workspace
from reconciler.render import MARKDOWN_LIMIT

# Each command imports the renderers it uses: `validate` starts without those of plans.


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text")
@common
def validate(ws: Workspace, fmt: str) -> int:
    """Check every record file; report every problem with its file and line."""
    from reconciler.render import problems_document, render_github, render_problems

    found = reconcile.validate(ws)
    problems, count = found.problems, found.records
    if fmt == "json":
        click.echo(json.dumps(problems_document(problems, count), indent=2, sort_keys=True))
    elif fmt == "github":
        click.echo(render_github(problems), nl=False)
    elif problems:
        click.echo(render_problems(problems), nl=False)
    if found.valid and fmt != "json":
        click.echo(f"{count} record{'s' if count != 1 else ''} valid.", err=fmt == "github")
    return 0 if found.valid else 1


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--refresh", is_flag=True, help="Plan against what the directory really holds.")
@click.option("--force", is_flag=True, help="Allow more deactivations than the safety limit.")
@click.option("--full-plan-at", default=None, help="Where a shortened markdown plan points to.")
@click.option(
    "--markdown-limit",
    type=click.IntRange(2_000, MARKDOWN_LIMIT),
    default=MARKDOWN_LIMIT,
    show_default=True,
    help="Most characters of a markdown plan (two plans may share one comment).",
)
@common
def plan(
    ws: Workspace,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    refresh: bool,
    force: bool,
    full_plan_at: str | None,
    markdown_limit: int,
) -> int:
    """Show what must change for the directory to match the files. Writes nothing but --out."""
    from reconciler.render import render_json_chunks, render_markdown, render_text_chunks

    the_plan = _refreshed_plan(ws) if refresh else reconcile.plan(ws)
    policies = reconcile.policy_results(ws, the_plan)
    if out is not None:
        reconcile.save_plan(out, render_json_chunks(the_plan, policies))
    if fmt == "json":
        # Streamed: a 100k-record plan is hundreds of MB of text, never held whole.
        sys.stdout.writelines(render_json_chunks(the_plan, policies))
    elif fmt == "markdown":
        graph = reconcile.graph(ws, the_plan)
        click.echo(
            render_markdown(
                the_plan,
                limit=markdown_limit,
                full_plan_at=full_plan_at,
                graph=graph,
                policies=policies,
            )
        )
    else:
        sys.stdout.writelines(render_text_chunks(the_plan, color=color(), policies=policies))
    if the_plan.unsafe and not force:
        click.echo(f"Error: {the_plan.unsafe}", err=True)
        return 1
    hard = reconcile.hard_violations(policies)
    if hard:
        names = ", ".join(hard)
        click.echo(
            f"Error: hard policies are violated ({names}): apply refuses this plan. Change the "
            "records; a hard policy has no override.",
            err=True,
        )
        return 1
    if out is not None:
        click.echo(
            f"Saved the plan to {out}: apply exactly it with "
            f"`reconciler apply --env {ws.env_name} {out}`.",
            err=True,
        )
    return 2 if detailed_exitcode and not the_plan.empty else 0


def _refreshed_plan(ws: Workspace) -> reconcile.Plan:
    import asyncio  # here, not above: a plan without --refresh starts without it

    from reconciler.reconcile.session import session

    async def run() -> reconcile.Plan:
        async with session(ws, environ()) as api:
            workers = ws.settings.file.api.concurrency
            return await reconcile.refreshed_plan(ws, api, concurrency=workers)

    return asyncio.run(run())


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@common
def show(ws: Workspace, fmt: str) -> int:
    """Show the ledger of the environment: what was last applied."""
    from reconciler.render import render_ledger_text

    current = reconcile.ledger(ws)
    if fmt == "json":
        click.echo(current.to_json(), nl=False)
    else:
        click.echo(render_ledger_text(current, ws.environment.ledger), nl=False)
    return 0


@click.command()
@click.option("--kind", type=click.Choice(sorted(KINDS)), default="organization")
def schema(kind: str) -> int:
    """Print the JSON Schema of a record file, for editors."""
    click.echo(json.dumps(KINDS[kind].json_schema(), indent=2, sort_keys=True))
    return 0
