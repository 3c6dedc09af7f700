"""The decisions of the workflow steps: plan and comment on a pull request, check that the plan
about to be applied is the reviewed one, summarise an apply, and hold drift's verdict while a
sync runs. The CLI (`reconciler github ...`) parses, calls one of these and prints."""

from __future__ import annotations

import logging
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
)
from reconciler.github.gitrepo import changed_paths, records_differ
from reconciler.github.review_check import read_memberships, read_reviews
from reconciler.github.verdict import ReviewVerdict
from reconciler.github.words import ReviewWords
from reconciler.policy import Level, violated
from reconciler.policy.approvals import Override, approvals, check_overrides, lookups
from reconciler.reconcile.workspace import LOCAL_DIR, Workspace
from reconciler.render import render_problems

logger = logging.getLogger(__name__)

SYNC_WORKFLOW = "sync.yml"
# A run in any of these states may be applying now or soon (Actions API `status` values).
ACTIVE_STATUSES = ("in_progress", "queued", "waiting", "requested", "pending")
DEFAULT_LEDGERS = "ledger/"
AUDIT_DIR = "audit/"


# -- plan.yml -------------------------------------------------------------------------------


def ledger_edits(ws: Workspace, actions: Actions) -> list[str]:
    """The ledger files and audit trails a pull request changes: only the tool writes them
    (and the sync commits them); a hand edit to a ledger would make the next apply skip or
    repeat calls, and one to a trail would rewrite who applied what. Everything under
    `audit/` counts, and each environment's audit file wherever it is. Files under
    `.reconciler/` count too: that local state (an apply's journal, the stat index) is never
    committed, and a committed copy would change what plan and apply read without showing in
    the records' diff. `audit_paths` tells the trails among them."""
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
    paths = [*ledgers, *audit_paths(ws), LOCAL_DIR]
    return changed_paths(ws.repo, base, head, list(dict.fromkeys(paths)))


def audit_paths(ws: Workspace) -> list[str]:
    """`audit/` and the audit file of every environment (but the sandbox's local one)."""
    try:
        environments = ws.settings.environments.values()
        trails = {env.audit for env in environments if env.audit and not env.in_process}
    except ReconcilerError:
        trails = set()  # invalid settings are validate's to report
    return [AUDIT_DIR, *sorted(t for t in trails if not t.startswith(AUDIT_DIR))]


def is_audit_path(path: str, trails: list[str]) -> bool:
    """Whether `path` (a file a pull request changes) is an audit trail, or under `audit/`."""
    return any(path == t or (t.endswith("/") and path.startswith(t)) for t in trails)


def plan_environments(repo: Path, environments: Iterable[str]) -> list[EnvPlan]:
    """Each environment's plan, or why it failed; one failing never stops the others."""
    found: list[EnvPlan] = []
    for env in environments:
        ws = Workspace(repo=repo, env_name=env)
        try:
            plan = reconcile.plan(ws)
            graph = reconcile.graph(ws, plan)
            policies = reconcile.policy_results(ws, plan)
        except LoadError as exc:
            found.append(EnvPlan(env, None, render_problems(exc.problems)))
        except ReconcilerError as exc:
            found.append(EnvPlan(env, None, f"Error: {exc}"))
        else:
            error = f"Error: {plan.unsafe}" if plan.unsafe else None
            found.append(EnvPlan(env, plan, error, graph, policies))
    return found


@dataclass(frozen=True)
class PolicyGate:
    """The pull request check's policy verdict: the violated hard policies of each
    environment (no approval passes them), and each violated soft one with the approving
    reviews, on the head, by its approvers that override it (or none yet)."""

    hard: dict[str, tuple[str, ...]]
    soft: dict[str, tuple[Override, ...]]

    @property
    def failed(self) -> bool:
        waiting = any(not o.granted for found in self.soft.values() for o in found)
        return any(self.hard.values()) or waiting


def policy_gate(
    plans: Sequence[EnvPlan], github: GitHub | None, members: GitHub | None, actions: Actions
) -> PolicyGate:
    """What the plans' policies say of this pull request now: the reviews are read only when a
    soft policy is violated (and not from a fork's run, whose token may not read teams)."""
    hard = {p.environment: tuple(r.name for r in violated(p.policies, Level.HARD)) for p in plans}
    soft_results = {p.environment: violated(p.policies, Level.SOFT) for p in plans}
    logins: tuple[str, ...] = ()
    memberships: dict[tuple[str, str], str] = {}
    if any(soft_results.values()) and github is not None:
        pull = actions.pull_request
        number = int(pull.get("number") or actions.event.get("number") or 0)
        head = str((pull.get("head") or {}).get("sha") or "")
        author = str((pull.get("user") or {}).get("login") or "")
        found = approvals(read_reviews(github, number), author=author, head_sha=head)
        logins = found.logins
        needed = {
            pair
            for results in soft_results.values()
            for r in results
            for pair in lookups(r.approvers, logins)
        }
        memberships = dict(read_memberships(members or github, needed))
    soft = {
        env: check_overrides(results, logins, memberships) for env, results in soft_results.items()
    }
    return PolicyGate(hard, soft)


@dataclass(frozen=True)
class Published:
    """Where the plan comment went: `posted`, `updated`, `fork` (not commented), or `review`
    (a review's run: the comment is left as the push made it)."""

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


def tell_pull(github: GitHub | None, verdict: ReviewVerdict, words: ReviewWords) -> str:
    """Tell the pull request why the gate refused (when it has something to say); the sentence
    the log adds about it."""
    if github is None or verdict.pull is None or words.pull_body is None:
        return ""
    try:
        github.create_comment(verdict.pull, words.pull_body)
    except GitHubError as exc:
        logger.warning("could not comment on #%s: %s", verdict.pull, exc)
        return f"The pull request could not be told: {exc}"
    return f"The pull request #{verdict.pull} says why."


@dataclass(frozen=True)
class Gate:
    """Whether a sync run applies its push, and the line that says so."""

    apply: bool
    message: str


def superseded(repo: Path, commit: str) -> Gate:
    """Whether the sync of the pushed `commit` must leave main to a newer run: when main (the
    checkout at `repo`) holds other records or settings than `commit`, a newer push brought
    them, and its own sync run applies them after this one. This run must not apply them
    first (that run's review check is theirs), nor apply the older ones over them."""
    if records_differ(repo, commit):
        return Gate(
            False,
            f"::notice title=Superseded::main has newer records than {commit[:12]}: the sync "
            "run of the newer push applies them.",
        )
    return Gate(True, f"main holds the records of {commit[:12]}: this run applies them.")


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
    """What a drift run concludes: its exit code, the annotation that says it, and in a word
    (`drift`, `clean`, `held` while a sync ran, `failed`: the drift issue's step reads it)."""

    code: int
    annotation: str
    outcome: str = ""


def drift_verdict(environment: str, code: int, runs: Sequence[dict[str, Any]]) -> Verdict:
    """Drift's verdict for `environment` from `reconciler drift`'s exit code, unless a sync ran
    meanwhile: then a notice, and no verdict."""
    if code not in (0, 2):
        return Verdict(
            1,
            f"::error title=Drift check failed in {environment}::reconciler drift exited "
            f"{code}: the directory could not be compared (see the log above).",
            "failed",
        )
    if runs:
        return Verdict(
            0,
            f"::notice title=No drift verdict for {environment}::a sync ran or was queued "
            f"while the directory was read ({describe_runs(runs)}): what looked like drift may "
            "be that apply. The next drift check judges again.",
            "held",
        )
    if code == 0:
        return Verdict(0, f"No drift in {environment}.", "clean")
    return Verdict(
        2,
        f"::error title=Drift in {environment}::The Redox directory differs from what was "
        f"last applied to {environment} (details in the job summary). To put the files back: "
        f"reconciler apply --refresh --env {environment}. To keep the directory's version: "
        "change the files to match.",
        "drift",
    )
