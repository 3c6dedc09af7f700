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
    SKIP_INPUT,
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
from reconciler.github.review_check import check_reviewed, merged_pull
from reconciler.github.sync_commit import SyncCommit, commit_ledger
from reconciler.github.verdict import Outcome, ReviewVerdict, Unreviewed
from reconciler.github.words import ReviewWords, apply_summary, policy_annotations, review_words
from reconciler.github.workflows import (
    AUDIT_DIR,
    SYNC_WORKFLOW,
    Gate,
    PolicyGate,
    Published,
    Verdict,
    audit_paths,
    describe_runs,
    drift_verdict,
    is_audit_path,
    ledger_edits,
    now_utc,
    plan_environments,
    policy_gate,
    publish_plan,
    superseded,
    sync_runs,
    tell_pull,
)

__all__ = [
    "AUDIT_DIR",
    "BOT_LOGIN",
    "COMMENT_LIMIT",
    "LABEL",
    "PLAN_MARKER",
    "SKIP_INPUT",
    "SYNC_WORKFLOW",
    "Actions",
    "DriftReport",
    "EnvPlan",
    "Gate",
    "GitHub",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "IssueVerdict",
    "Outcome",
    "PlanComment",
    "PolicyGate",
    "Published",
    "ReviewVerdict",
    "ReviewWords",
    "SyncCommit",
    "Unreviewed",
    "Verdict",
    "apply_summary",
    "audit_paths",
    "check_reviewed",
    "commit_ledger",
    "describe_runs",
    "drift_issues",
    "drift_verdict",
    "find_plan_comment",
    "is_audit_path",
    "keep_drift_issue",
    "ledger_edits",
    "merged_pull",
    "now_utc",
    "parse_report",
    "plan_comment",
    "plan_environments",
    "policy_annotations",
    "policy_gate",
    "publish_plan",
    "read_plan_comment",
    "read_report",
    "read_state",
    "review_words",
    "superseded",
    "sync_runs",
    "tell_pull",
    "tracked",
]
