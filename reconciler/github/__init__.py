"""The GitHub side of the workflows: the plan comment on a pull request, the reviewed digest the
sync applies with, the job summaries, whether a sync is running, and the drift issue, over
GitHub's REST API (httpx). `reconciler github ...` (cli/github.py) is its command line."""

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
from reconciler.github.drift_issue import (
    LABEL,
    IssueVerdict,
    drift_issues,
    keep_drift_issue,
    read_state,
    tracked,
)
from reconciler.github.drift_report import DriftReport, parse_report, read_report
from reconciler.github.ledger_commit import LedgerCommit, commit_ledger
from reconciler.github.workflows import (
    SKIP_INPUT,
    SYNC_WORKFLOW,
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
    sync_runs,
)

__all__ = [
    "BOT_LOGIN",
    "COMMENT_LIMIT",
    "LABEL",
    "PLAN_MARKER",
    "SKIP_INPUT",
    "SYNC_WORKFLOW",
    "Actions",
    "DriftReport",
    "EnvPlan",
    "GitHub",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "IssueVerdict",
    "LedgerCommit",
    "PlanComment",
    "Published",
    "ReviewCheck",
    "Verdict",
    "apply_summary",
    "check_reviewed",
    "commit_ledger",
    "describe_runs",
    "drift_issues",
    "drift_verdict",
    "find_plan_comment",
    "keep_drift_issue",
    "ledger_edits",
    "now_utc",
    "parse_report",
    "plan_comment",
    "plan_environments",
    "publish_plan",
    "read_plan_comment",
    "read_report",
    "read_state",
    "sync_runs",
    "tracked",
]
