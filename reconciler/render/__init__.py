"""Renderings: text, markdown, JSON, GitHub annotations, mermaid and dot of plans, apply results,
problems, drift, the ledger and the views (graph, status, history), and the report's HTML page:
the only place that words a result for people. Pure: they take data and return text. One module
per subject; this package exports what the commands use, each module imported when one of its
names is first asked for (`validate` loads the problems' module alone); but html.py (Jinja2),
which `report` imports itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler import lazy_names

if TYPE_CHECKING:
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
    from reconciler.render.limits import MARKDOWN_LIMIT
    from reconciler.render.notify import Notification, render_notification
    from reconciler.render.plan import (
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

_WHERE = {
    "MARKDOWN_LIMIT": "reconciler.render.limits",
    "Notification": "reconciler.render.notify",
    "apply_summary": "reconciler.render.apply",
    "audit_document": "reconciler.render.audit",
    "change_document": "reconciler.render.plan",
    "digest_lines": "reconciler.render.plan",
    "digest_marker": "reconciler.render.plan",
    "drift_document": "reconciler.render.drift",
    "drift_note": "reconciler.render.drift",
    "drift_scope": "reconciler.render.drift",
    "drift_summary": "reconciler.render.drift",
    "history_document": "reconciler.render.history",
    "plan_document": "reconciler.render.plan",
    "plan_summary": "reconciler.render.plan",
    "policies_document": "reconciler.render.policy",
    "policy_markdown": "reconciler.render.policy",
    "policy_notes": "reconciler.render.policy",
    "policy_text": "reconciler.render.policy",
    "problems_document": "reconciler.render.problems",
    "refusal_text": "reconciler.render.policy",
    "render_applied": "reconciler.render.apply",
    "render_audit_csv": "reconciler.render.audit",
    "render_audit_text": "reconciler.render.audit",
    "render_dot": "reconciler.render.graph",
    "render_drift_markdown": "reconciler.render.drift",
    "render_drift_text": "reconciler.render.drift",
    "render_github": "reconciler.render.problems",
    "render_graph_text": "reconciler.render.graph",
    "render_history_text": "reconciler.render.history",
    "render_import": "reconciler.render.ledger",
    "render_json": "reconciler.render.plan",
    "render_json_chunks": "reconciler.render.plan",
    "render_ledger_text": "reconciler.render.ledger",
    "render_markdown": "reconciler.render.plan",
    "render_mermaid": "reconciler.render.graph",
    "render_notification": "reconciler.render.notify",
    "render_problems": "reconciler.render.problems",
    "render_status_text": "reconciler.render.status",
    "render_text": "reconciler.render.plan",
    "render_text_chunks": "reconciler.render.plan",
    "render_verification": "reconciler.render.audit",
    "render_verified": "reconciler.render.apply",
    "status_document": "reconciler.render.status",
    "verification_document": "reconciler.render.audit",
}

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


__getattr__ = lazy_names(__name__, _WHERE)
