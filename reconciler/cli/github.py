"""`reconciler github ...`: the steps of the GitHub workflows, each a few lines of YAML. The
decisions are in reconciler.github; these commands read the run's variables, call one, print
its annotations and exit."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.base import common, environ
from reconciler.cli.notifying import mask, notify
from reconciler.reconcile.workspace import LOCAL_DIR, Workspace
from reconciler.render import render_drift_markdown, render_drift_text, render_text

if TYPE_CHECKING:
    from reconciler.github import Actions, ReviewVerdict


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
    """Fail, with an annotation on each, when the pull request changes a ledger or an audit
    trail: only the tool writes them, and the sync workflow commits them."""
    from reconciler.github import audit_paths, is_audit_path, ledger_edits

    edited = ledger_edits(ws, _actions())
    trails = audit_paths(ws)
    for path in edited:
        if is_audit_path(path, trails):
            click.echo(
                f"::error file={path},title=The audit trail is written by reconciler only::"
                f"{path} is changed by this pull request. The audit trail records who applied "
                "what, when and on whose approval; reconciler appends to it and the sync "
                "workflow commits it, and a changed line would rewrite that record (and fail "
                f"`reconciler audit verify`). Revert the change to {path}."
            )
            continue
        if path.startswith(f"{LOCAL_DIR}/"):
            click.echo(
                f"::error file={path},title=reconciler's local state is never committed::{path} "
                "is added or changed by this pull request. .reconciler/ holds an apply's "
                "journal and the stat index, which plan and apply read: a committed copy would "
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
        click.echo("The ledgers and the audit trails are unchanged.")
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
    from reconciler.github import (
        Published,
        plan_environments,
        policy_annotations,
        policy_gate,
        publish_plan,
    )
    from reconciler.github import plan_comment as assemble

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
    reviewing = actions.event_name == "pull_request_review"
    for entry in plans:
        if entry.plan is not None:
            click.echo(f"{entry.environment}: {entry.plan.digest}")
        if entry.plan is not None and entry.environment in comment.shortened:
            click.echo(f"::group::Full plan for {entry.environment}")
            click.echo(render_text(entry.plan), nl=False)
            click.echo("::endgroup::")
    with ExitStack() as stack:
        client = None if actions.from_fork else stack.enter_context(actions.client())
        members = None if actions.from_fork else stack.enter_context(actions.members_client())
        # A review re-evaluates the check only: the plan comment is the push's, left as it is.
        published = Published("review") if reviewing else publish_plan(actions, client, comment)
        gate = policy_gate(plans, client, members, actions)
    if published.status == "review":
        click.echo("A review: the policy check is evaluated again; the plan comment is kept.")
    elif published.status == "fork":
        click.echo(
            "::notice title=Plan not commented::A pull request from a fork gets a read-only "
            "token, so the plan is in the job summary instead of a comment."
        )
    else:
        click.echo(f"{published.status.capitalize()} the plan comment {published.comment_id}.")
    for line in policy_annotations(gate):
        click.echo(line)
    failed = [p.environment for p in plans if p.failed]
    if failed:
        click.echo(
            f"::error title=Plan failed::reconciler plan failed for: {' '.join(failed)}. The "
            "reason is in the plan comment and the job summary."
        )
        return 1
    return 1 if gate.failed else 0


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
    """Check that the plan is the one reviewed on the merged pull request, approved as
    `approvals` asks, with no policy in the way; outputs `digest` (for apply --expect-digest),
    `pr`, `overrides` (soft policies an approver overrode: apply --override-policy) and
    `approved_by`. Refused: exit 1, and the pull request says why."""
    from reconciler.github import check_reviewed as check
    from reconciler.github import review_words, tell_pull

    actions = _actions()
    with ExitStack() as stack:
        # By hand, GitHub is read only when a soft policy asks whether the actor may override.
        client = None if skip_check and not actions.token else stack.enter_context(actions.client())
        members = stack.enter_context(actions.members_client()) if client else None
        verdict = check(
            ws, client, commit=commit, skip=skip_check, actions=actions, members=members
        )
        words = review_words(verdict, run_url=actions.run_url)
        told = tell_pull(client, verdict, words)
    actions.add_summary(words.summary)
    actions.set_outputs(
        digest=verdict.digest,
        pr=str(verdict.pull or ""),
        overrides=" ".join(verdict.overridden),
        approved_by=",".join(verdict.approved_by),
    )
    if verdict.ok:
        click.echo(words.message)
        return 0
    message = f"{words.message} {told}".strip()
    click.echo(f"::error title=Not applied to {ws.env_name}::{message}")
    _record_refusal(ws, verdict)
    notify(ws, "apply.refused", {}, detail=message)
    return 1


def _record_refusal(ws: Workspace, verdict: ReviewVerdict) -> None:
    """A sync the gate refused is an apply refused (SPEC 9): its line goes into the audit trail,
    which the workflow's next step commits."""
    from reconciler.git.reader import head_commit
    from reconciler.reconcile.audit import SignOff, record_refusal

    sign_off = SignOff(environ(), pull_request=verdict.pull, approved_by=tuple(verdict.approved_by))
    with ws.ledger_store.lock("check-reviewed"):
        ws.audit_trail().prepare()
        record_refusal(ws, sign_off, plan=verdict.plan, commit=head_commit(ws.repo))


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
    """Commit the environment's ledger and audit trail to main in one commit and push it,
    rebasing when main moved."""
    from reconciler.github import commit_ledger as commit_it

    with ws.ledger_store.lock("commit-ledger"):
        done = commit_it(
            ws.repo,
            ws.environment.ledger,
            environment=ws.env_name,
            applied=commit,
            apply_code=code,
            trail=ws.audit_trail(),
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
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="What `reconciler drift --format json` wrote: shown in the log and the job summary.",
)
@common
def drift_verdict(
    ws: Workspace, code: int, since: str | None, workflow: str, report: Path | None
) -> int:
    """Drift's verdict from `reconciler drift`'s exit code, or a notice and none when a sync
    ran or was queued meanwhile; outputs `verdict` (drift, clean, held or failed)."""
    from reconciler.github import drift_verdict as verdict
    from reconciler.github import read_report, sync_runs

    actions = _actions()
    if report is not None and code in (0, 2):
        found_report = read_report(report, environment=ws.env_name)
        drifts, checked = list(found_report.drifts), found_report.checked
        part, ledgered = found_report.part, found_report.ledgered
        click.echo(render_drift_text(drifts, checked, ws.env_name, part=part, ledgered=ledgered))
        actions.add_summary(
            render_drift_markdown(drifts, checked, ws.env_name, part=part, ledgered=ledgered)
        )
    runs: list[dict[str, object]] = []
    if code in (0, 2):
        with actions.client() as client:
            runs = sync_runs(client, workflow=workflow, since=since)
    found = verdict(ws.env_name, code, runs)
    actions.set_outputs(verdict=found.outcome)
    click.echo(found.annotation)
    return found.code


@github.command("drift-issue")
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
@common
def drift_issue(ws: Workspace, report: Path) -> int:
    """Keep the environment's drift issue current from REPORT (what `reconciler drift --format
    json` wrote): open it, update it, or close it when the drift is gone."""
    from reconciler.github import keep_drift_issue, now_utc, read_report

    mask(ws)
    actions = _actions()
    found = read_report(report, environment=ws.env_name)
    with actions.client() as client:
        done = keep_drift_issue(client, found, now=now_utc(), run_url=actions.run_url)
    env = ws.env_name
    for number in done.duplicates:
        click.echo(f"Closed #{number}, a second drift issue of {env}, as a duplicate.")
    if done.outcome == "clean":
        click.echo(f"No drift in {env}, and no drift issue open.")
    elif done.outcome == "closed":
        click.echo(f"No drift left in {env}: closed the drift issue #{done.number} {done.url}")
        counts = {"checked": found.checked, "ledgered": found.ledgered}
        notify(ws, "drift.resolved", counts, detail=f"Closed the drift issue: {done.url}")
    else:
        what = {
            "opened": "Opened",
            "updated": "Updated (the drifted records changed)",
            "unchanged": "Refreshed (the same records drift)",
        }[done.outcome]
        click.echo(
            f"{what} the drift issue of {env}: #{done.number} {done.url} "
            f"({done.records} record{'' if done.records == 1 else 's'})."
        )
    actions.set_outputs(issue=str(done.number or ""), outcome=done.outcome)
    return 0
