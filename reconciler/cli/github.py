"""`reconciler github ...`: the steps of the GitHub workflows, each a few lines of YAML. The
decisions are in reconciler.github; these commands read the run's variables, call one, print
its annotations and exit."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.base import common, environ
from reconciler.reconcile.workspace import LOCAL_DIR, Workspace
from reconciler.render import render_text

if TYPE_CHECKING:
    from reconciler.github import Actions


def _actions() -> Actions:
    from reconciler.github import Actions

    return Actions.from_environ(environ())


def _repo(ctx: click.Context, repo: Path | None) -> Path:
    parent = ctx.find_object(dict) or {}
    return (repo or parent.get("repo") or Path.cwd()).resolve()


@click.group()
def github() -> None:
    """The steps of the GitHub workflows: plan comment, review check, summaries, drift gate."""


@github.command("ledger-check")
@common
def ledger_check(ws: Workspace) -> int:
    """Fail, with an annotation on each, when the pull request changes a ledger: only the sync
    workflow writes them."""
    from reconciler.github import ledger_edits

    edited = ledger_edits(ws, _actions())
    for path in edited:
        if path.startswith(f"{LOCAL_DIR}/"):
            click.echo(
                f"::error file={path},title=reconciler's local state is never committed::{path} "
                "is added or changed by this pull request. .reconciler/ holds an apply's "
                "journal and the plan cache, which plan and apply read: a committed copy would "
                "change the plan without showing in the records. Remove it from git "
                f"(git rm -r --cached {LOCAL_DIR}) and commit."
            )
            continue
        click.echo(
            f"::error file={path},title=The ledger is written by the sync workflow only::{path} "
            "is changed by this pull request. The ledger records what was applied; only the "
            f"sync workflow on main writes it. Revert the change to {path}."
        )
    if not edited:
        click.echo("The ledgers are unchanged.")
    return 1 if edited else 0


@github.command("plan-comment")
@click.option("--env", "environments", multiple=True, required=True, help="Plan this one too.")
@click.option("--ledger-check", default="", help="The outcome of the workflow's ledger check.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def plan_comment(
    ctx: click.Context, environments: tuple[str, ...], ledger_check: str, repo: Path | None
) -> int:
    """Plan each environment, put the plans in the job summary and in one comment on the pull
    request (updated on each push); exit 1 when a plan failed."""
    from reconciler.github import plan_comment as assemble
    from reconciler.github import plan_environments, publish_plan

    actions = _actions()
    plans = plan_environments(_repo(ctx, repo), environments)
    head = str((actions.pull_request.get("head") or {}).get("sha") or "0" * 40)
    comment = assemble(
        plans,
        head_sha=head,
        run_url=actions.run_url,
        ledger_changed=ledger_check == "failure",
    )
    actions.add_summary(comment.summary)
    for entry in plans:
        if entry.plan is not None:
            click.echo(f"{entry.environment}: {entry.plan.digest}")
        if entry.plan is not None and entry.environment in comment.shortened:
            click.echo(f"::group::Full plan for {entry.environment}")
            click.echo(render_text(entry.plan), nl=False)
            click.echo("::endgroup::")
    with ExitStack() as stack:
        client = None if actions.from_fork else stack.enter_context(actions.client())
        published = publish_plan(actions, client, comment)
    if published.status == "fork":
        click.echo(
            "::notice title=Plan not commented::A pull request from a fork gets a read-only "
            "token, so the plan is in the job summary instead of a comment."
        )
    else:
        click.echo(f"{published.status.capitalize()} the plan comment {published.comment_id}.")
    failed = [p.environment for p in plans if p.failed]
    if failed:
        click.echo(
            f"::error title=Plan failed::reconciler plan failed for: {' '.join(failed)}. The "
            "reason is in the plan comment and the job summary."
        )
        return 1
    return 0


@github.command("superseded")
@click.option("--commit", required=True, help="The pushed commit (github.sha).")
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def superseded(ctx: click.Context, commit: str, repo: Path | None) -> int:
    """Whether main (the checkout) holds newer records than the pushed commit, whose sync then
    leaves them to the newer push's run: outputs `apply` (true/false)."""
    from reconciler.github import superseded as decide

    gate = decide(_repo(ctx, repo), commit)
    _actions().set_outputs(apply="true" if gate.apply else "false")
    click.echo(gate.message)
    return 0


@github.command("check-reviewed")
@click.option("--commit", required=True, help="The pushed commit (github.sha).")
@click.option("--skip-check", type=click.BOOL, default=False, help="Skip it (workflow_dispatch).")
@common
def check_reviewed(ws: Workspace, commit: str, skip_check: bool) -> int:
    """Check that the plan is the one reviewed on the merged pull request; outputs `digest` (for
    apply --expect-digest) and `pr`. Refused: exit 1, and the pull request says why."""
    from reconciler.github import check_reviewed as check

    actions = _actions()
    with ExitStack() as stack:
        client = None if skip_check else stack.enter_context(actions.client())
        result = check(ws, client, commit=commit, skip=skip_check, actions=actions)
    actions.add_summary(result.summary)
    actions.set_outputs(digest=result.digest, pr=str(result.pull or ""))
    if result.ok:
        click.echo(result.message)
        return 0
    click.echo(f"::error title=Not applied to {ws.env_name}::{result.message}")
    return 1


@github.command("apply-summary")
@click.option("--exit-code", "code", type=int, required=True, help="reconciler apply's exit code.")
@click.option("--log", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--pr", default="", help="The pull request the plan was reviewed on.")
@click.option("--digest", default="", help="The digest it was applied with.")
@click.option("--skipped", type=click.BOOL, default=False, help="The review check was skipped.")
@common
def apply_summary(ws: Workspace, code: int, log: Path, pr: str, digest: str, skipped: bool) -> int:
    """Write the apply's outcome to the job summary; exit 1 when the apply failed."""
    from reconciler.github import apply_summary as summarise

    actions = _actions()
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    markdown, error = summarise(
        environment=ws.env_name,
        code=code,
        log=text,
        pull=int(pr) if pr.isdigit() else None,
        digest=digest,
        skipped=skipped,
    )
    actions.add_summary(markdown)
    if error:
        click.echo(error)
        return 1
    return 0


@github.command("commit-ledger")
@click.option("--exit-code", "code", default="", help="reconciler apply's exit code.")
@click.option("--commit", required=True, help="The pushed commit that was applied.")
@common
def commit_ledger(ws: Workspace, code: str, commit: str) -> int:
    """Commit the environment's ledger to main and push it, rebasing when main moved."""
    from reconciler.github import commit_ledger as commit_it

    done = commit_it(
        ws.repo,
        ws.environment.ledger,
        environment=ws.env_name,
        applied=commit,
        apply_code=code,
    )
    for line in done.lines:
        click.echo(line)
    return 0 if done.ok else 1


@github.command("sync-running")
@click.option("--workflow", default="sync.yml", show_default=True, help="The sync's file name.")
def sync_running(workflow: str) -> int:
    """Whether a sync is running or queued: outputs `running` (true/false) and `since` (now,
    for drift-verdict)."""
    from reconciler.github import describe_runs, now_utc, sync_runs

    actions = _actions()
    since = now_utc()
    with actions.client() as client:
        runs = sync_runs(client, workflow=workflow)
    actions.set_outputs(running="true" if runs else "false", since=since)
    if runs:
        click.echo(
            "::notice title=Drift not checked::a sync is running or queued "
            f"({describe_runs(runs)}): a directory read mid-apply shows drift that is not "
            "there. The next drift check judges again."
        )
    else:
        click.echo("No sync is running or queued.")
    return 0


@github.command("drift-verdict")
@click.option("--exit-code", "code", type=int, required=True, help="reconciler drift's exit code.")
@click.option("--since", default=None, help="When the drift check started (sync-running's).")
@click.option("--workflow", default="sync.yml", show_default=True, help="The sync's file name.")
@common
def drift_verdict(ws: Workspace, code: int, since: str | None, workflow: str) -> int:
    """Drift's verdict from `reconciler drift`'s exit code, or a notice and none when a sync
    ran or was queued meanwhile."""
    from reconciler.github import drift_verdict as verdict
    from reconciler.github import sync_runs

    actions = _actions()
    runs: list[dict[str, object]] = []
    if code in (0, 2):
        with actions.client() as client:
            runs = sync_runs(client, workflow=workflow, since=since)
    found = verdict(ws.env_name, code, runs)
    click.echo(found.annotation)
    return found.code
