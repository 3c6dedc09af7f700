"""Renderings: text, markdown, JSON, GitHub annotations, mermaid and dot of plans, apply results,
problems, drift, the ledger and the views (graph, status, history): the only place that words a
result for people. Pure: they take data and return
text. One module per subject; this package exports what the commands use."""

from __future__ import annotations

from reconciler.render.apply import apply_summary, render_applied, render_verified
from reconciler.render.drift import (
    drift_document,
    drift_note,
    drift_summary,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.render.graph import render_dot, render_graph_text, render_mermaid
from reconciler.render.history import history_document, render_history_text
from reconciler.render.ledger import render_import, render_ledger_text
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
from reconciler.render.problems import problems_document, render_github, render_problems
from reconciler.render.status import render_status_text, status_document

__all__ = [
    "MARKDOWN_LIMIT",
    "apply_summary",
    "change_document",
    "digest_lines",
    "digest_marker",
    "drift_document",
    "drift_note",
    "drift_summary",
    "history_document",
    "plan_document",
    "plan_summary",
    "problems_document",
    "render_applied",
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
    "render_problems",
    "render_status_text",
    "render_text",
    "render_text_chunks",
    "render_verified",
    "status_document",
]
