"""The decisions of the workflow steps: plan and comment on a pull request, check that the plan
about to be applied is the reviewed one, summarise an apply, and hold drift's verdict while a
sync runs. The CLI (`reconciler github ...`) parses, calls one of these and prints."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import reconcile
from reconciler.errors import LoadError, ReconcilerError
from reconciler.github.actions import Actions
from reconciler.github.client import GitHub, GitHubError
from reconciler.github.comment import (
    BOT_LOGIN,
    EnvPlan,
    PlanComment,
    find_plan_comment,
    read_plan_comment,
)
from reconciler.github.gitrepo import changed_paths, records_commit
from reconciler.github.review import rebuilt, refusal_comment
from reconciler.plan import Plan
from reconciler.reconcile.workspace import LOCAL_DIR, Workspace
from reconciler.render import render_markdown, render_problems
from reconciler.render.plan import plan_summary

logger = logging.getLogger(__name__)

SYNC_WORKFLOW = "sync.yml"
# A run in any of these states may be applying now or soon (Actions API `status` values).
ACTIVE_STATUSES = ("in_progress", "queued", "waiting", "requested", "pending")
SKIP_INPUT = "skip-review-check"
DEFAULT_LEDGERS = "ledger/"


# -- plan.yml -------------------------------------------------------------------------------


def ledger_edits(ws: Workspace, actions: Actions) -> list[str]:
    """The ledger files a pull request changes: only the sync writes them, and a hand edit
    would make the next apply skip or repeat calls. Files under `.reconciler/` count too: that
    local state (an apply's journal, the plan cache) is never committed, and a committed copy
    would change what plan and apply read without showing in the records' diff."""
    pull = actions.event.get("pull_request") or {}
    base = str((pull.get("base") or {}).get("sha") or "")
    head = str((pull.get("head") or {}).get("sha") or "")
    if not (base and head):
        raise ReconcilerError("this is not a pull request's run: no base and head to compare")
    try:
        environments = ws.settings.environments.values()
        ledgers = sorted({env.ledger for env in environments if not env.in_process})
    except ReconcilerError:
        ledgers = [DEFAULT_LEDGERS]  # invalid settings are validate's to report
    return changed_paths(ws.repo, base, head, [*ledgers, LOCAL_DIR])


def plan_environments(repo: Path, environments: Iterable[str]) -> list[EnvPlan]:
    """Each environment's plan, or why it failed; one failing never stops the others."""
    found: list[EnvPlan] = []
    for env in environments:
        ws = Workspace(repo=repo, env_name=env)
        try:
            plan = reconcile.plan(ws)
            graph = reconcile.graph(ws, plan)
        except LoadError as exc:
            found.append(EnvPlan(env, None, render_problems(exc.problems)))
        except ReconcilerError as exc:
            found.append(EnvPlan(env, None, f"Error: {exc}"))
        else:
            error = f"Error: {plan.unsafe}" if plan.unsafe else None
            found.append(EnvPlan(env, plan, error, graph))
    return found


@dataclass(frozen=True)
class Published:
    """Where the plan comment went: `posted`, `updated`, or `fork` (not commented)."""

    status: str
    comment_id: int | None = None


def publish_plan(actions: Actions, github: GitHub | None, comment: PlanComment) -> Published:
    """Post the plan comment, or edit the one already there (found by its marker and author):
    one comment per pull request. A pull request from a fork has a read-only token."""
    number = actions.pull_request.get("number") or actions.event.get("number")
    if not number:
        raise ReconcilerError("this run has no pull request event: nothing to comment on")
    if actions.from_fork or github is None:
        return Published("fork")
    existing = find_plan_comment(github.issue_comments(int(number)), bot=BOT_LOGIN)
    if existing is not None:
        github.update_comment(int(existing["id"]), comment.body)
        return Published("updated", int(existing["id"]))
    created = github.create_comment(int(number), comment.body)
    return Published("posted", int(created.get("id") or 0))


# -- sync.yml -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewCheck:
    """Whether the plan about to be applied may be: the digest to apply it with, the pull
    request it was reviewed on, and what to tell the log, the job summary and the pull
    request."""

    ok: bool
    digest: str
    message: str
    summary: str
    pull: int | None = None
    comment_url: str = ""


def merged_pull(github: GitHub, commit: str) -> dict[str, Any] | None:
    """The merged pull request whose merge commit `commit` is (or, failing that, any merged
    pull request the commit belongs to)."""
    pulls = [p for p in github.pulls_of_commit(commit) if p.get("merged_at")]
    exact = [p for p in pulls if p.get("merge_commit_sha") == commit]
    chosen = exact or pulls
    return chosen[0] if chosen else None


def check_reviewed(
    ws: Workspace,
    github: GitHub | None,
    *,
    commit: str,
    skip: bool,
    actions: Actions,
) -> ReviewCheck:
    """The plan of `ws` against what was reviewed on the pull request that merged the newest
    change of records up to `commit` (the pushed commit; on a run by hand, main's tip, past
    the sync's own ledger commits). Refused (and said on the pull request) when it differs;
    with `skip`, the check is skipped by a person's decision and the summary says so."""
    env = ws.env_name
    current = reconcile.plan(ws)
    title = f"### Reviewed plan: `{env}`\n\n"
    if skip:
        who = f" by @{actions.actor}" if actions.actor else ""
        return ReviewCheck(
            True,
            current.digest,
            f"The review check is skipped (input {SKIP_INPUT}){who}: applying main as it is.",
            title + f"**The review check was skipped**: this run was started by hand{who} "
            f"with `{SKIP_INPUT}`, so main is applied as it is, unreviewed by a pull request: "
            f"`{current.digest}`.\n\n" + _plan_details(current, actions),
        )
    if github is None:
        raise ReconcilerError("the review check needs GITHUB_TOKEN to read the pull request")
    commit = records_commit(ws.repo, commit)
    pull = merged_pull(github, commit)
    if current.empty:
        where = f" (#{pull['number']})" if pull else ""
        return ReviewCheck(
            True,
            current.digest,
            f"Nothing to apply to {env}: the directory already matches main{where}.",
            title + f"Nothing to apply: `{current.digest}` is the empty plan.\n",
            int(pull["number"]) if pull else None,
        )
    if pull is None:
        message = (
            f"Commit {commit[:12]} belongs to no merged pull request, so no plan for {env} was "
            f"reviewed. Review it (reconciler plan --env {env}) and apply it by running the "
            f"sync by hand (Actions, sync, Run workflow) with {SKIP_INPUT}."
        )
        return ReviewCheck(False, current.digest, message, title + message + "\n")
    number = int(pull["number"])
    found = find_plan_comment(github.issue_comments(number), bot=BOT_LOGIN)
    reviewed = read_plan_comment(found) if found is not None else None
    head = str((pull.get("head") or {}).get("sha") or "")
    why = None
    if reviewed is None:
        why = f"#{number} has no plan comment, so its plan was never reviewed"
    elif reviewed.head_sha and head and reviewed.head_sha != head:
        why = (
            f"the plan comment of #{number} is for {reviewed.head_sha[:7]}, but #{number} was "
            f"merged at {head[:7]}: the plan of what was merged was not the one commented"
        )
    elif env not in reviewed.digests:
        why = f"the plan comment of #{number} holds no plan for {env} (its plan failed)"
    if why is not None or reviewed is None:
        message = (
            f"Not applied to {env}: {why}. Check the plan (reconciler plan --env {env}) and "
            f"run the sync by hand with {SKIP_INPUT} to apply it."
        )
        _tell_pull(github, number, f"### Not applied to `{env}`\n\n{message}\n")
        return ReviewCheck(False, current.digest, message, title + message + "\n", number)
    expected = reviewed.digests[env]
    if expected == current.digest:
        return ReviewCheck(
            True,
            expected,
            f"The plan for {env} is the one reviewed on #{number}: {expected}.",
            title + f"The plan for `{env}` is the one reviewed on #{number} "
            f"([plan comment]({reviewed.url})): `{expected}`, {plan_summary(current)}\n",
            number,
            reviewed.url,
        )
    items = reviewed.changes.get(env)
    body = refusal_comment(
        environment=env,
        reviewed_digest=expected,
        reviewed=rebuilt(env, items) if items is not None else None,
        current=current,
        commit=commit,
        run_url=actions.run_url,
        comment_url=reviewed.url,
    )
    told = _tell_pull(github, number, body)
    message = (
        f"Not applied to {env}: the plan changed after review on #{number}. Reviewed "
        f"{expected}, now {current.digest} ({plan_summary(current)}) {told}"
    )
    return ReviewCheck(False, current.digest, message, body, number, reviewed.url)


def _tell_pull(github: GitHub, number: int, body: str) -> str:
    try:
        github.create_comment(number, body)
    except GitHubError as exc:
        logger.warning("could not comment on #%s: %s", number, exc)
        return f"The pull request could not be told: {exc}"
    return f"The pull request #{number} says what changed."


def _plan_details(plan: Plan, actions: Actions) -> str:
    shown = render_markdown(
        plan, limit=30_000, full_plan_at=f"the log of [this run]({actions.run_url})"
    )
    return f"<details><summary>The plan applied</summary>\n\n{shown}\n</details>\n"


_OUTCOME = re.compile(
    r"^(Plan: |No changes|Apply |Applied |  (failed|skipped|refused: created elsewhere|unverified)"
    r": |Verified: |Not verified: |Error|Aborted|Interrupted)"
)


def apply_summary(
    *,
    environment: str,
    code: int,
    log: str,
    pull: int | None,
    digest: str,
    skipped: bool,
) -> tuple[str, str | None]:
    """The job summary of one apply, and the error annotation when it failed."""
    lines = [f"### reconciler apply: `{environment}` (exit {code})", ""]
    if code == 0 and skipped:
        lines.append(
            f"Applied main as it is, **without the review check** ({SKIP_INPUT}): `{digest}`."
        )
    elif code == 0 and pull is not None:
        lines.append(f"Applied the plan reviewed on #{pull}: `{digest}`.")
    elif code == 0:
        lines.append(f"Applied `{digest}`.")
    kept = [line for line in log.splitlines() if _OUTCOME.match(line)]
    lines += ["", "````text", *kept, "````", ""]
    error = None
    if code != 0:
        error = (
            f"::error title=Apply to {environment} failed::reconciler apply exited {code}: the "
            "job summary says why. What was applied is in the committed ledger. A plan refused "
            "by the safety limit is applied, once reviewed, by running this workflow by hand "
            "with force."
        )
    return "\n".join(lines), error


# -- drift.yml ------------------------------------------------------------------------------


def now_utc() -> str:
    """The time now, as the Actions API's `created` filter takes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_runs(
    github: GitHub, *, workflow: str = SYNC_WORKFLOW, since: str | None = None
) -> list[dict[str, Any]]:
    """The sync runs that are running or waiting to, and (with `since`) every one created
    since then, whatever its state: a drift check read the directory while any of them may
    have been applying."""
    found: dict[int, dict[str, Any]] = {}
    for status in ACTIVE_STATUSES:
        for run in github.workflow_runs(workflow, status=status):
            found[int(run["id"])] = run
    if since:
        for run in github.workflow_runs(workflow, created=f">={since}"):
            found[int(run["id"])] = run
    return sorted(found.values(), key=lambda r: int(r["id"]))


def describe_runs(runs: Sequence[dict[str, Any]]) -> str:
    return ", ".join(
        f"run {r['id']} ({r.get('status', '?')}{', ' + r['html_url'] if r.get('html_url') else ''})"
        for r in runs
    )


@dataclass(frozen=True)
class Verdict:
    """What a drift run concludes: its exit code and the annotation that says it."""

    code: int
    annotation: str


def drift_verdict(environment: str, code: int, runs: Sequence[dict[str, Any]]) -> Verdict:
    """Drift's verdict for `environment` from `reconciler drift`'s exit code, unless a sync ran
    meanwhile: then a notice, and no verdict."""
    if code not in (0, 2):
        return Verdict(
            1,
            f"::error title=Drift check failed in {environment}::reconciler drift exited "
            f"{code}: the directory could not be compared (see the log above).",
        )
    if runs:
        return Verdict(
            0,
            f"::notice title=No drift verdict for {environment}::a sync ran or was queued "
            f"while the directory was read ({describe_runs(runs)}): what looked like drift may "
            "be that apply. The next drift check judges again.",
        )
    if code == 0:
        return Verdict(0, f"No drift in {environment}.")
    return Verdict(
        2,
        f"::error title=Drift in {environment}::The Redox directory differs from what was "
        f"last applied to {environment} (details in the job summary). To put the files back: "
        f"reconciler apply --refresh --env {environment}. To keep the directory's version: "
        "change the files to match.",
    )
