"""The words of the workflows' steps: each verdict of the sync's gate (github.review_check:
passed, skipped, unreviewed, changed, unapproved, policy-blocked, ...) as a line for the log, the
job summary and what the pull request is told; the pull request check's words on policies; and
an apply's job summary. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.github.comment import SKIP_INPUT, summary_line
from reconciler.github.review import REFUSED_MARKER, refusal_comment
from reconciler.github.verdict import Outcome, ReviewVerdict, Unreviewed
from reconciler.plan import Plan
from reconciler.policy.approvals import Ignored
from reconciler.render import render_markdown
from reconciler.render.plan import md_cell

if TYPE_CHECKING:
    from reconciler.github.workflows import PolicyGate


@dataclass(frozen=True)
class ReviewWords:
    """A verdict of the sync's gate, worded: a line for the log (`message`), the job summary,
    and what the pull request is told (None: nothing)."""

    message: str
    summary: str
    pull_body: str | None = None


def review_words(verdict: ReviewVerdict, *, run_url: str) -> ReviewWords:
    """The words of `verdict` (github.review_check)."""
    words = {
        Outcome.PASSED: _passed,
        Outcome.SKIPPED: _skipped,
        Outcome.NOTHING: _nothing,
        Outcome.NO_PULL: _no_pull,
        Outcome.UNREVIEWED: _unreviewed,
        Outcome.CHANGED: _changed,
        Outcome.UNAPPROVED: _unapproved,
        Outcome.POLICY_BLOCKED: _policy_blocked,
    }[verdict.outcome]
    return words(verdict, run_url)


def _title(verdict: ReviewVerdict) -> str:
    return f"### Reviewed plan: `{verdict.environment}`\n\n"


def _who(verdict: ReviewVerdict) -> str:
    return f" by @{verdict.actor}" if verdict.actor else ""


def _passed(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env, number, digest = verdict.environment, verdict.pull, verdict.digest
    approved = _approval_line(verdict)
    message = f"The plan for {env} is the one reviewed on #{number}: {digest}.{approved}"
    summary = (
        _title(verdict) + f"The plan for `{env}` is the one reviewed on #{number} "
        f"([plan comment]({verdict.comment_url})): `{digest}`, {summary_line(verdict.plan)}\n"
    )
    if approved:
        summary += f"\n{approved.strip()}\n"
    return ReviewWords(message, summary)


def _approval_line(verdict: ReviewVerdict) -> str:
    parts = []
    if verdict.approved_by:
        parts.append(f" Approved by {_logins(verdict.approved_by)}.")
    for override in verdict.overrides:
        if override.granted:
            parts.append(f" Soft policy {override.name} overridden by {_logins(override.by)}.")
    return "".join(parts)


def _logins(logins: Sequence[str]) -> str:
    return ", ".join(f"@{login}" for login in logins)


def _skipped(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    who = _who(verdict)
    overridden = "".join(
        f" Soft policy {o.name} overridden{who}." for o in verdict.overrides if o.granted
    )
    message = (
        f"The review check is skipped (input {SKIP_INPUT}){who}: applying main as it is."
        + overridden
    )
    summary = (
        _title(verdict) + f"**The review check was skipped**: this run was started by hand"
        f"{who} with `{SKIP_INPUT}`, so main is applied as it is, unreviewed by a pull "
        f"request: `{verdict.digest}`.{overridden}\n\n" + plan_details(verdict.plan, run_url)
    )
    return ReviewWords(message, summary)


def _nothing(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    where = f" (#{verdict.pull})" if verdict.pull else ""
    message = (
        f"Nothing to apply to {verdict.environment}: the directory already matches main{where}."
    )
    summary = _title(verdict) + f"Nothing to apply: `{verdict.digest}` is the empty plan.\n"
    return ReviewWords(message, summary)


def _no_pull(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env = verdict.environment
    message = (
        f"Commit {verdict.commit[:12]} belongs to no merged pull request, so no plan for {env} "
        f"was reviewed. Review it (reconciler plan --env {env}) and apply it by running the "
        f"sync by hand (Actions, sync, Run workflow) with {SKIP_INPUT}."
    )
    return ReviewWords(message, _title(verdict) + message + "\n")


def _unreviewed(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env, number = verdict.environment, verdict.pull
    why = {
        Unreviewed.NO_COMMENT: f"#{number} has no plan comment, so its plan was never reviewed",
        Unreviewed.STALE_HEAD: (
            f"the plan comment of #{number} is for {verdict.commented_head[:7]}, but #{number} "
            f"was merged at {verdict.merged_head[:7]}: the plan of what was merged was not the "
            "one commented"
        ),
        Unreviewed.NO_PLAN: f"the plan comment of #{number} holds no plan for {env} (its plan "
        "failed)",
    }[verdict.unreviewed or Unreviewed.NO_COMMENT]
    message = (
        f"Not applied to {env}: {why}. Check the plan (reconciler plan --env {env}) and run the "
        f"sync by hand with {SKIP_INPUT} to apply it."
    )
    body = f"{REFUSED_MARKER.format(env=env)}\n### Not applied to `{env}`\n\n{message}\n"
    return ReviewWords(message, _title(verdict) + message + "\n", body)


def _changed(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env, number = verdict.environment, verdict.pull
    body = refusal_comment(
        environment=env,
        reviewed_digest=verdict.reviewed_digest,
        reviewed=verdict.reviewed_plan,
        current=verdict.plan,
        commit=verdict.commit,
        run_url=run_url,
        comment_url=verdict.comment_url,
    )
    message = (
        f"Not applied to {env}: the plan changed after review on #{number}. Reviewed "
        f"{verdict.reviewed_digest}, now {verdict.digest} ({summary_line(verdict.plan)})"
    )
    return ReviewWords(message, body, body)


def _unapproved(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env, check = verdict.environment, verdict.approvals
    assert check is not None  # an UNAPPROVED verdict always carries its check
    source = f" from {', '.join(check.allowed)}" if check.allowed else ""
    have = f": {_logins(check.approvers)}" if check.approvers else ""
    message = (
        f"Not applied to {env}: #{verdict.pull} needs {check.required} approving "
        f"review{'s' if check.required != 1 else ''}{source} on {verdict.merged_head[:7]} (the "
        f"head as merged), and has {len(check.approvers)}{have}."
    )
    if check.unreadable:
        message += f" {MEMBERS_HINT}"
    lines = [REFUSED_MARKER.format(env=env), f"### Not applied to `{env}`: approval missing", ""]
    lines += [message, "", *_ignored_table(check.ignored), *_blocked_lines(verdict)]
    lines += [_what_now(verdict), ""]
    body = "\n".join(lines)
    return ReviewWords(message, body, body)


MEMBERS_HINT = (
    "Team membership could not be read, so no reviewer was taken for a member: give the step "
    "GITHUB_MEMBERS_TOKEN, a token that may read the organization's members (a GitHub App "
    "installation token with the organization permission Members: read, or a fine-grained "
    "token with Members: read)."
)


def _ignored_table(ignored: Sequence[Ignored]) -> list[str]:
    if not ignored:
        return []
    rows = ["| reviewer | why their review does not count |", "|---|---|"]
    rows += [f"| @{i.login} | {md_cell(i.reason)} |" for i in ignored]
    return [*rows, ""]


def _blocked_lines(verdict: ReviewVerdict) -> list[str]:
    """The policies in the way: each hard one, and each soft one no approver overrode."""
    lines: list[str] = []
    for result in verdict.hard:
        lines.append(
            f"- hard policy **{result.name}** ({len(result.violations)} violation"
            f"{'s' if len(result.violations) != 1 else ''}): no approval overrides it; change "
            "the records."
        )
    for override in verdict.refused_overrides:
        who = ", ".join(override.approvers) or "no one (it names no approvers)"
        lines.append(
            f"- soft policy **{override.name}** needs an approving review by one of: {who}."
        )
    if lines:
        lines.append("")
    for result in [
        *verdict.hard,
        *(r for r in verdict.policies if r.name in {o.name for o in verdict.refused_overrides}),
    ]:
        lines += [f"**{result.name}**:", ""]
        lines += [
            f"- `{v.identity}` ({v.action}): {md_cell(v.message)}" for v in result.violations[:20]
        ]
        if len(result.violations) > 20:
            lines.append(f"- and {len(result.violations) - 20} more")
        lines.append("")
    return lines


def _policy_blocked(verdict: ReviewVerdict, run_url: str) -> ReviewWords:
    env = verdict.environment
    hard = [r.name for r in verdict.hard]
    soft = [
        f"{o.name} (may be overridden by {', '.join(o.approvers) or 'no review'})"
        for o in verdict.refused_overrides
    ]
    parts = []
    if hard:
        parts.append(f"hard policies are violated: {', '.join(hard)}")
    if soft:
        parts.append(f"soft policies are violated and not overridden: {'; '.join(soft)}")
    message = f"Not applied to {env}: {'; '.join(parts)}."
    if verdict.outcome is Outcome.POLICY_BLOCKED and any(
        "could not be read" in i.reason for o in verdict.refused_overrides for i in o.ignored
    ):
        message += f" {MEMBERS_HINT}"
    lines = [REFUSED_MARKER.format(env=env), f"### Not applied to `{env}`: policies", ""]
    lines += [message, "", *_blocked_lines(verdict)]
    ignored = [i for o in verdict.refused_overrides for i in o.ignored]
    lines += _ignored_table(ignored)
    lines += [_what_now(verdict), ""]
    body = "\n".join(lines)
    return ReviewWords(message, body, body if verdict.pull is not None else None)


def _what_now(verdict: ReviewVerdict) -> str:
    if verdict.hard:
        return (
            "**What now:** change the records in a new pull request: a hard policy has no override."
        )
    return (
        "**What now:** the approval must be an approving review of the head as merged, by a "
        "reviewer who is not the author; then re-run this sync. Or one of the approvers runs "
        f"the sync by hand (*Actions → sync → Run workflow*) with **{SKIP_INPUT}**, which "
        "records who did."
    )


def plan_details(plan: Plan, run_url: str) -> str:
    """The plan applied, folded, for a job summary."""
    shown = render_markdown(plan, limit=30_000, full_plan_at=f"the log of [this run]({run_url})")
    return f"<details><summary>The plan applied</summary>\n\n{shown}\n</details>\n"


def policy_annotations(gate: PolicyGate) -> list[str]:
    """The pull request check's words on policies: an error per environment with a hard
    violation, or a soft one no approver has overridden yet (saying who may); a notice for
    each override granted."""
    lines: list[str] = []
    for env, names in gate.hard.items():
        if names:
            lines.append(
                f"::error title=Policy violated in {env}::hard policies {', '.join(names)}: "
                "the sync will not apply this plan and no approval overrides them. Change the "
                "records (the plan comment lists each one)."
            )
    for env, overrides in gate.soft.items():
        for o in overrides:
            if o.granted:
                lines.append(
                    f"::notice title=Policy overridden in {env}::soft policy {o.name} is "
                    f"overridden by the approval of {_logins(o.by)}."
                )
                continue
            who = ", ".join(o.approvers) or "no one: it names no approvers"
            lines.append(
                f"::error title=Approval needed in {env}::soft policy {o.name} is violated: an "
                f"approving review of the head commit by one of {who} overrides it, and this "
                "check turns green without a new push."
                + (
                    f" {MEMBERS_HINT}"
                    if any("could not be read" in i.reason for i in o.ignored)
                    else ""
                )
            )
    return lines


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
