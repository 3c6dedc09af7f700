"""Renderings: text, markdown, JSON, GitHub annotations, mermaid and dot of plans, apply results,
problems, drift, the ledger and the views (graph, status, history), and the report's HTML page:
the only place that words a result for people. Pure: they take data and return text. One module
per subject; this package exports what the commands use, but html.py (Jinja2), which `report`
imports itself."""

from __future__ import annotations

from reconciler.render.apply import apply_summary, render_applied, render_verified
from reconciler.render.audit import (
    audit_document,
    render_audit_csv,
    render_audit_text,
    render_verification,
    verification_document,
)
from reconciler.render.drift import (
    drift_document,
    drift_note,
    drift_scope,
    drift_summary,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.render.graph import render_dot, render_graph_text, render_mermaid
from reconciler.render.history import history_document, render_history_text
from reconciler.render.ledger import render_import, render_ledger_text
from reconciler.render.notify import Notification, render_notification
from reconciler.render.plan import (
    MARKDOWN_LIMIT,
    change_document,
    digest_lines,
    digest_marker,
    plan_document,
    plan_summary,
    render_json,
    render_json_chunks,
    render_markdown,
    render_text,
    render_text_chunks,
)
from reconciler.render.policy import (
    policies_document,
    policy_markdown,
    policy_notes,
    policy_text,
    refusal_text,
)
from reconciler.render.problems import problems_document, render_github, render_problems
from reconciler.render.status import render_status_text, status_document

__all__ = [
    "MARKDOWN_LIMIT",
    "Notification",
    "apply_summary",
    "audit_document",
    "change_document",
    "digest_lines",
    "digest_marker",
    "drift_document",
    "drift_note",
    "drift_scope",
    "drift_summary",
    "history_document",
    "plan_document",
    "plan_summary",
    "policies_document",
    "policy_markdown",
    "policy_notes",
    "policy_text",
    "problems_document",
    "refusal_text",
    "render_applied",
    "render_audit_csv",
    "render_audit_text",
    "render_dot",
    "render_drift_markdown",
    "render_drift_text",
    "render_github",
    "render_graph_text",
    "render_history_text",
    "render_import",
    "render_json",
    "render_json_chunks",
    "render_ledger_text",
    "render_markdown",
    "render_mermaid",
    "render_notification",
    "render_problems",
    "render_status_text",
    "render_text",
    "render_text_chunks",
    "render_verification",
    "render_verified",
    "status_document",
    "verification_document",
]
