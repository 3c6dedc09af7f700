"""The pull request's plan comment: assembled from each environment's plan within GitHub's size
limit, and read back by the sync (the reviewed digests, the head it was made for, the reviewed
changes themselves). Pure: text in, text out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.formats.jsontext import canonical_json
from reconciler.github.review import REFUSED_MARKER, refusal_comment
from reconciler.github.verdict import Outcome, ReviewVerdict, Unreviewed
from reconciler.plan import DIGEST_PATTERN, Plan
from reconciler.policy import PolicyResult

if TYPE_CHECKING:
    from reconciler.github.workflows import PolicyGate
from reconciler.policy.approvals import Ignored
from reconciler.render import MARKDOWN_LIMIT, digest_lines, render_markdown
from reconciler.render.plan import md_cell, plan_summary
from reconciler.views.graph import Graph

PLAN_MARKER = "<!-- redox-reconciler-plan -->"
BOT_LOGIN = "github-actions[bot]"
COMMENT_LIMIT = 65_536  # GitHub refuses a longer comment body
ERROR_LIMIT = 8_000  # of one environment's failure text in the comment
EMBED_LIMIT = 32 * 1024 * 1024  # most bytes a reviewed plan may unpack to
SKIP_INPUT = "skip-review-check"  # the sync's input that skips the gate (a run by hand)
summary_line = plan_summary
_HEAD = re.compile(r"<!-- reconciler:plan-head sha=(?P<sha>[0-9a-f]{7,40}) -->")
_DIGEST = re.compile(
    r"<!-- reconciler:plan-digest env=(?P<env>\S+) (?P<digest>sha256:[0-9a-f]{64}) -->"
)
_EMBEDDED = re.compile(
    r"<!-- reconciler:reviewed-plan env=(?P<env>\S+) (?P<data>[A-Za-z0-9+/=]+) -->"
)


@dataclass(frozen=True)
class EnvPlan:
    """One environment's plan for the comment, or why there is none (`plan` None), or why it
    cannot be applied as it is (`error` beside a plan: the safety guard)."""

    environment: str
    plan: Plan | None
    error: str | None = None
    graph: Graph | None = None  # the hierarchy, for the plan's flowchart
    policies: tuple[PolicyResult, ...] = ()  # the plan's policy results

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class PlanComment:
    """The comment for the pull request, the same plans for the job summary, and the
    environments whose plan was cut down (their full text plan belongs in the job's log)."""

    body: str
    summary: str
    shortened: tuple[str, ...]


def plan_comment(
    plans: Sequence[EnvPlan],
    *,
    head_sha: str,
    run_url: str,
    ledger_changed: bool = False,
    limit: int = COMMENT_LIMIT,
) -> PlanComment:
    """The plan comment of every environment in one body of at most `limit` characters: each
    plan shares the room; past it, each keeps its summary and digest and the comment points
    to the job. The reviewed changes ride along, hidden, while they fit."""
    head = [
        PLAN_MARKER,
        f"<!-- reconciler:plan-head sha={head_sha} -->",
        f"## reconciler plan for {head_sha[:7]}",
        "",
        "What the sync workflow will apply to each environment once this pull request is "
        "merged. It applies a plan only when the plan at merge has the digest shown here; "
        "otherwise it applies nothing and says what changed.",
        "",
    ]
    if ledger_changed:
        head += [
            "> [!CAUTION]",
            "> This pull request changes `ledger/` or `.reconciler/`, which only reconciler "
            "writes (the ledger on main by the sync workflow): revert that first.",
            "",
        ]
    top = "\n".join(head) + "\n"
    where = f"the log of [this check]({run_url})"
    share = min(MARKDOWN_LIMIT, max(2_000, (limit - len(top) - 2 * ERROR_LIMIT) // len(plans)))
    sections = [_section(p, share, where) for p in plans]
    body = top + "".join(sections)
    shortened = [p.environment for p, s in zip(plans, sections, strict=True) if where in s]
    if len(body) > limit:
        body = top + "".join(_headline(p) for p in plans)
        body += (
            "\n_The plans are too long for one comment: see the [job summary and log of this "
            f"check]({run_url})._\n"
        )
        shortened = [p.environment for p in plans if p.plan is not None]
    for p in plans:
        if p.plan is not None:
            hidden = embedded_plan(p.plan) + "\n"
            if len(body) + len(hidden) <= limit:
                body += hidden
    return PlanComment(body, top + "".join(sections), tuple(shortened))


def _section(entry: EnvPlan, share: int, where: str) -> str:
    env = entry.environment
    if entry.plan is not None:
        text = render_markdown(
            entry.plan, limit=share, full_plan_at=where, graph=entry.graph, policies=entry.policies
        )
    else:
        text = f"### reconciler plan: `{env}`\n"
    if entry.error is not None:
        error = entry.error.rstrip()
        if len(error) > ERROR_LIMIT:
            error = (
                error[:ERROR_LIMIT] + f"\n… ({len(error) - ERROR_LIMIT} more characters in the log)"
            )
        text += (
            "\n> [!CAUTION]\n"
            f"> `reconciler plan --env {env}` failed (exit 1): this cannot be applied as it is.\n\n"
            f"````text\n{error}\n````\n"
        )
    return text + "\n"


def _headline(entry: EnvPlan) -> str:
    lines = [f"### reconciler plan: `{entry.environment}`", ""]
    if entry.plan is not None:
        if entry.plan.unsafe:
            lines += [f"> [!CAUTION]\n> {entry.plan.unsafe}", ""]
        lines += [f"**{plan_summary(entry.plan)}**", "", *digest_lines(entry.plan), ""]
    if entry.error is not None:
        first = entry.error.strip().splitlines()[0] if entry.error.strip() else ""
        lines += [
            "> [!CAUTION]",
            f"> `reconciler plan --env {entry.environment}` failed (exit 1): {first}",
            "",
        ]
    return "\n".join(lines) + "\n"


def embedded_plan(plan: Plan) -> str:
    """The plan's digested changes, compressed, in a hidden marker: the sync rebuilds the
    reviewed plan from it to say what changed. Its sha256 is the plan digest."""
    data = _digested_text(plan).encode()
    packed = base64.b64encode(zlib.compress(data, 9)).decode()
    return f"<!-- reconciler:reviewed-plan env={plan.environment} {packed} -->"


def _digested_text(plan: Plan) -> str:
    document = {"changes": [c.digested() for c in plan.changes], "environment": plan.environment}
    return canonical_json(document)


# -- reading it back ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewedComment:
    """What the sync reads from a pull request's plan comment."""

    comment_id: int
    url: str
    head_sha: str | None
    digests: dict[str, str]
    # environment -> the reviewed changes (`Change.digested` items), when embedded and intact
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def find_plan_comment(
    comments: Sequence[Mapping[str, Any]], *, bot: str = BOT_LOGIN
) -> Mapping[str, Any] | None:
    """The plan comment among a pull request's comments: the first the workflow's bot wrote
    that starts with the marker. A person's copy of the marker is not trusted."""
    for comment in comments:
        login = (comment.get("user") or {}).get("login")
        if login == bot and str(comment.get("body") or "").startswith(PLAN_MARKER):
            return comment
    return None


def read_plan_comment(comment: Mapping[str, Any]) -> ReviewedComment:
    """The digests, head and embedded changes of a plan comment."""
    body = str(comment.get("body") or "")
    head = _HEAD.search(body)
    digests: dict[str, str] = {}
    for found in _DIGEST.finditer(body):
        digests.setdefault(found["env"], found["digest"])
    changes: dict[str, list[dict[str, Any]]] = {}
    for found in _EMBEDDED.finditer(body):
        env = found["env"]
        rebuilt = _unpack(found["data"], digests.get(env))
        if rebuilt is not None and rebuilt.get("environment") == env:
            changes[env] = list(rebuilt.get("changes") or [])
    return ReviewedComment(
        comment_id=int(comment.get("id") or 0),
        url=str(comment.get("html_url") or ""),
        head_sha=head["sha"] if head else None,
        digests=digests,
        changes=changes,
    )


def _unpack(data: str, digest: str | None) -> dict[str, Any] | None:
    """The embedded document, if it is intact: its sha256 must be the digest beside it."""
    if digest is None or not DIGEST_PATTERN.fullmatch(digest):
        return None
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(data, validate=True), EMBED_LIMIT)
        if inflater.unconsumed_tail:
            return None
    except (binascii.Error, zlib.error, ValueError):
        return None
    if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


# -- the sync gate's words ------------------------------------------------------------------


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
