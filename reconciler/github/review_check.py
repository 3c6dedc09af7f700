"""The sync's gate (`reconciler github check-reviewed`), as a decision: may the plan of an
environment be applied, given what was reviewed and approved on the pull request that merged
it? It returns a verdict, data only; github.comment words it and workflows tells the pull
request.

In order: the plan is planned and its policies evaluated; a run by hand (skip-review-check)
stands for its actor's approval; otherwise the merged pull request's plan comment must carry
this plan's digest for the head as merged, the reviews that count (policy.approvals) must meet
`approvals.ENV`, a hard policy must not be violated, and each violated soft policy needs an
approving review by one of its `approvers`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from reconciler import reconcile
from reconciler.errors import ReconcilerError
from reconciler.github.actions import Actions
from reconciler.github.client import GitHub, GitHubError
from reconciler.github.comment import BOT_LOGIN, find_plan_comment, read_plan_comment
from reconciler.github.gitrepo import records_commit
from reconciler.github.review import rebuilt
from reconciler.github.verdict import Outcome, ReviewVerdict, Unreviewed
from reconciler.policy import Level, PolicyResult, violated
from reconciler.policy.approvals import (
    UNREADABLE,
    Approvals,
    Memberships,
    Review,
    approvals,
    check_approvals,
    check_overrides,
    is_team,
    lookups,
)
from reconciler.reconcile.workspace import Workspace


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
    members: GitHub | None = None,
) -> ReviewVerdict:
    """The verdict for `ws`'s environment at `commit` (the pushed commit; on a run by hand,
    main's tip, past the sync's own ledger commits). `members` reads team memberships
    (default: `github`)."""
    current = reconcile.plan(ws)
    policies = reconcile.policy_results(ws, current)
    base = ReviewVerdict(Outcome.PASSED, ws.env_name, current, policies=policies)
    if skip:
        return _by_hand(base, actions.actor, members or github)
    if github is None:
        raise ReconcilerError("the review check needs GITHUB_TOKEN to read the pull request")
    commit = records_commit(ws.repo, commit)
    pull = merged_pull(github, commit)
    found = replace(base, commit=commit, pull=int(pull["number"]) if pull else None)
    if current.empty:
        return replace(found, outcome=Outcome.NOTHING)
    if pull is None:
        return replace(found, outcome=Outcome.NO_PULL)
    reviewed = _reviewed(found, github, pull)
    if not reviewed.ok:
        return reviewed
    return _approved(reviewed, ws, github, members or github, pull)


def _by_hand(base: ReviewVerdict, actor: str, members: GitHub | None) -> ReviewVerdict:
    """A run by hand stands for its actor's approval: a soft policy is let through when the
    actor may override it; a hard one never is."""
    verdict = replace(base, outcome=Outcome.SKIPPED, actor=actor)
    soft = violated(base.policies, Level.SOFT)
    logins = [actor] if actor else []
    memberships = read_memberships(members, _override_lookups(soft, logins)) if soft else {}
    overrides = check_overrides(soft, logins, memberships)
    verdict = replace(verdict, overrides=overrides)
    if verdict.hard or verdict.refused_overrides:
        return replace(verdict, outcome=Outcome.POLICY_BLOCKED)
    return verdict


def _reviewed(verdict: ReviewVerdict, github: GitHub, pull: dict[str, Any]) -> ReviewVerdict:
    """PASSED when the pull request's plan comment carries this plan's digest for the head as
    merged; UNREVIEWED or CHANGED otherwise."""
    number, env = int(pull["number"]), verdict.environment
    found = find_plan_comment(github.issue_comments(number), bot=BOT_LOGIN)
    head = str((pull.get("head") or {}).get("sha") or "")
    verdict = replace(verdict, merged_head=head)
    if found is None:
        return replace(verdict, outcome=Outcome.UNREVIEWED, unreviewed=Unreviewed.NO_COMMENT)
    comment = read_plan_comment(found)
    verdict = replace(verdict, comment_url=comment.url, commented_head=comment.head_sha or "")
    if comment.head_sha and head and comment.head_sha != head:
        return replace(verdict, outcome=Outcome.UNREVIEWED, unreviewed=Unreviewed.STALE_HEAD)
    if env not in comment.digests:
        return replace(verdict, outcome=Outcome.UNREVIEWED, unreviewed=Unreviewed.NO_PLAN)
    expected = comment.digests[env]
    verdict = replace(verdict, reviewed_digest=expected)
    if expected == verdict.plan.digest:
        return verdict
    items = comment.changes.get(env)
    again = rebuilt(env, items) if items is not None else None
    return replace(verdict, outcome=Outcome.CHANGED, reviewed_plan=again)


def _approved(
    verdict: ReviewVerdict, ws: Workspace, github: GitHub, members: GitHub, pull: dict[str, Any]
) -> ReviewVerdict:
    """The reviewed plan against `approvals.ENV` and the policies: UNAPPROVED, POLICY_BLOCKED
    or PASSED."""
    wanted = ws.settings.file.approvals.get(verdict.environment)
    required, allowed = (wanted.count, tuple(wanted.from_)) if wanted else (0, ())
    author = str((pull.get("user") or {}).get("login") or "")
    found = approvals(
        read_reviews(github, int(pull["number"])), author=author, head_sha=verdict.merged_head
    )
    soft = violated(verdict.policies, Level.SOFT)
    needed = lookups(allowed, found.logins) | _override_lookups(soft, found.logins)
    memberships = read_memberships(members, needed)
    check = check_approvals(
        required=required, allowed=allowed, found=found, memberships=memberships
    )
    overrides = check_overrides(soft, found.logins, memberships)
    verdict = replace(verdict, approvals=check, overrides=overrides)
    if verdict.hard:
        return replace(verdict, outcome=Outcome.POLICY_BLOCKED)
    if not check.met:
        return replace(verdict, outcome=Outcome.UNAPPROVED)
    if verdict.refused_overrides:
        return replace(verdict, outcome=Outcome.POLICY_BLOCKED)
    return verdict


def read_reviews(github: GitHub, number: int) -> list[Review]:
    return [
        Review(
            login=str((r.get("user") or {}).get("login") or ""),
            state=str(r.get("state") or ""),
            commit_id=str(r.get("commit_id") or ""),
        )
        for r in github.pull_reviews(number)
    ]


def _override_lookups(soft: Iterable[PolicyResult], logins: Iterable[str]) -> set[tuple[str, str]]:
    who = list(logins)
    return {pair for result in soft for pair in lookups(result.approvers, who)}


def read_memberships(github: GitHub | None, pairs: Iterable[tuple[str, str]]) -> Memberships:
    """Each (team, login)'s membership state; "unreadable: why" when GitHub would not say. A
    team the token cannot see at all is unreadable too, never "not a member": GitHub answers
    404 alike for a team that does not exist and one the token may not read."""
    states: dict[tuple[str, str], str] = {}
    visible: dict[str, bool | str] = {}
    for team, login in sorted(pairs):
        if not is_team(team):
            continue
        org, slug = team[1:].split("/", 1)
        if github is None:
            states[(team, login)] = f"{UNREADABLE}: no token to read it"
            continue
        try:
            if team not in visible:
                visible[team] = github.team_exists(org, slug)
            if visible[team] is False:
                states[(team, login)] = (
                    f"{UNREADABLE}: GitHub shows no team {team} to this token (it does not "
                    "exist, or the token may not read the organization's teams)"
                )
            else:
                states[(team, login)] = github.team_membership(org, slug, login)
        except GitHubError as exc:
            status = f"GitHub answered {exc.status}" if exc.status else str(exc)
            states[(team, login)] = f"{UNREADABLE}: {status}"
    return states


__all__ = ["Approvals", "Outcome", "ReviewVerdict", "Unreviewed", "check_reviewed", "merged_pull"]
