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
from reconciler.plan import DIGEST_PATTERN, Plan
from reconciler.policy import PolicyResult

if TYPE_CHECKING:
    pass
from reconciler.render import MARKDOWN_LIMIT, digest_lines, render_markdown
from reconciler.render.plan import plan_summary
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
            "> This pull request changes `ledger/`, `audit/` or `.reconciler/`, which only "
            "reconciler writes (the ledger and the audit trail on main by the sync workflow): "
            "revert that first.",
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
