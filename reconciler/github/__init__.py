"""The GitHub side of the workflows: the plan comment on a pull request, the reviewed digest the
sync applies with, the job summaries, and whether a sync is running, over GitHub's REST API
(httpx). `reconciler github ...` (cli/github.py) is its command line."""

from __future__ import annotations

from reconciler.github.actions import Actions
from reconciler.github.client import GitHub, GitHubError, GitHubForbidden, GitHubNotFound
from reconciler.github.comment import (
    BOT_LOGIN,
    COMMENT_LIMIT,
    PLAN_MARKER,
    EnvPlan,
    PlanComment,
    find_plan_comment,
    plan_comment,
    read_plan_comment,
)
from reconciler.github.ledger_commit import LedgerCommit, commit_ledger
from reconciler.github.workflows import (
    SKIP_INPUT,
    SYNC_WORKFLOW,
    Gate,
    Published,
    ReviewCheck,
    Verdict,
    apply_summary,
    check_reviewed,
    describe_runs,
    drift_verdict,
    ledger_edits,
    now_utc,
    plan_environments,
    publish_plan,
    superseded,
    sync_runs,
)

__all__ = [
    "BOT_LOGIN",
    "COMMENT_LIMIT",
    "PLAN_MARKER",
    "SKIP_INPUT",
    "SYNC_WORKFLOW",
    "Actions",
    "EnvPlan",
    "Gate",
    "GitHub",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "LedgerCommit",
    "PlanComment",
    "Published",
    "ReviewCheck",
    "Verdict",
    "apply_summary",
    "check_reviewed",
    "commit_ledger",
    "describe_runs",
    "drift_verdict",
    "find_plan_comment",
    "ledger_edits",
    "now_utc",
    "plan_comment",
    "plan_environments",
    "publish_plan",
    "read_plan_comment",
    "superseded",
    "sync_runs",
]
