"""Renderings: text, markdown, JSON and GitHub annotations of plans, problems, drift and the
ledger. Pure: they take data and return text. One module per subject; this package exports
what the commands use."""

from __future__ import annotations

from reconciler.render.drift import (
    drift_document,
    drift_note,
    drift_summary,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.render.ledger import render_import, render_ledger_text
from reconciler.render.plan import (
    MARKDOWN_LIMIT,
    change_document,
    digest_lines,
    digest_marker,
    plan_document,
    render_json,
    render_json_chunks,
    render_markdown,
    render_text,
)
from reconciler.render.problems import problems_document, render_github, render_problems

__all__ = [
    "MARKDOWN_LIMIT",
    "change_document",
    "digest_lines",
    "digest_marker",
    "drift_document",
    "drift_note",
    "drift_summary",
    "plan_document",
    "problems_document",
    "render_drift_markdown",
    "render_drift_text",
    "render_github",
    "render_import",
    "render_json",
    "render_json_chunks",
    "render_ledger_text",
    "render_markdown",
    "render_problems",
    "render_text",
]
