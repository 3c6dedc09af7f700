"""The report (SPEC 6 `report`) as one self-contained HTML page: the status matrix with a
filter, the hierarchy as an indented tree, each record's recent history, the unverified
records and each environment's last audit entries. Pure: data in, text out.

The page is a Jinja2 template with autoescaping, not markup written by hand around
`html.escape`: every value reaches the page through `{{ }}` and is escaped there, so no value
can be left unescaped by omission; only the package's own style sheet and script are inserted
as they are. Its Content-Security-Policy allows exactly those two (by their hashes) and loads
nothing: even a value that slipped through could run no script and fetch nothing. The page
needs no script but the filter's, and no network at all (it works from file://).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterator, Mapping
from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from reconciler.render.history import timeline
from reconciler.render.plan import field_line
from reconciler.views.graph import Graph
from reconciler.views.history import FileEvent, LedgerEvent
from reconciler.views.report import AuditTrail, Report
from reconciler.views.status import IN_SYNC, INTENT, NO_FILE, UNVERIFIED, Row

_STATE_CSS = {IN_SYNC: "ok", INTENT: "bad", UNVERIFIED: "bad", NO_FILE: "off"}  # else: pending
# An audit entry's result (SPEC 9).
_RESULT_CSS = {
    "applied": "ok",
    "partial": "bad",
    "interrupted": "wait",
    "unverified": "bad",
    "refused": "bad",
}
_FIELD_LINES = 8  # field changes listed per event; the rest counted
_LINE_CHARACTERS = 300  # a changed value is cut after this many
_PIECES = 2000  # template outputs joined into one piece written


def state_css(state: str) -> str:
    """The style of a status cell: in sync, pending, needing attention, or without file."""
    return _STATE_CSS.get(state, "wait")


def render_report_html(report: Report) -> Iterator[str]:
    """The page, in pieces (a few thousand of the template's outputs each)."""
    css = _asset("report.css") + _matrix_css(report.status.environments)
    js = _asset("report.js")
    context = {
        "csp": _policy(css, js),
        "css": Markup(css),  # the package's own text; _matrix_css escapes what it adds
        "js": Markup(js),
        "repository": report.repository,
        "generated_at": report.generated_at,
        "commit": _commit(report),
        "total": len(report.status.rows),
        "envs": report.status.environments,
        "counts": _counts(report),
        "unverified": [
            {
                "name": row.name,
                "identity": row.identity,
                "envs": [env for env, state in row.status.items() if state == UNVERIFIED],
            }
            for row in report.unverified
        ],
        "rows": [_row(row, report) for row in report.status.rows],
        "history_limit": report.history_limit,
        "history_notes": report.history_notes,
        "tree": _tree(report.graph, {row.key: row for row in report.status.rows}),
        "audits": [_audit(trail) for trail in report.audits],
    }
    stream = _template().stream(**context)
    stream.enable_buffering(_PIECES)
    yield from stream


@functools.cache
def _template() -> Template:
    environment = Environment(
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the tests instead of printing ""
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    return environment.from_string(_asset("report.html.j2"))


@functools.cache
def _asset(name: str) -> str:
    return (files("reconciler.render") / name).read_text(encoding="utf-8")


def _policy(css: str, js: str) -> str:
    """The Content-Security-Policy: no source at all but the page's own style and script."""

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    return (
        f"default-src 'none'; style-src 'sha256-{digest(css)}'; "
        f"script-src 'sha256-{digest(js)}'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def _css_string(text: str) -> str:
    """`text` as a CSS string: every character but letters, digits, space, `_`, `-` and `.`
    escaped (nothing in it can end the string or the style element)."""
    safe = (c if (c.isascii() and c.isalnum()) or c in " _-." else f"\\{ord(c):x} " for c in text)
    return '"' + "".join(safe) + '"'


def _matrix_css(environments: tuple[str, ...]) -> str:
    """The status table's columns: the record's wide, the environments' equal. On a narrow
    screen it is one card per record, each state labelled with its environment's name."""
    columns = f"minmax(0, 9fr) repeat({len(environments)}, minmax(0, 4fr))"
    labels = [
        f".matrix td:nth-child({index})::before {{ content: {_css_string(env + ': ')}; }}"
        for index, env in enumerate(environments, 2)
    ]
    return (
        f".matrix tr {{ grid-template-columns: {columns}; }}\n"
        "@media (max-width: 40rem) {\n"
        + "".join(f"  {rule}\n" for rule in labels)
        + "  .matrix tr { grid-template-columns: minmax(0, 1fr); }\n}\n"
    )


def _commit(report: Report) -> dict[str, str] | None:
    commit = report.commit
    if commit is None:
        return None
    return {
        "short": commit.short,
        "date": commit.date[:10],
        "author": commit.author,
        "subject": commit.subject,
    }


def _counts(report: Report) -> list[dict[str, Any]]:
    """The states some environment holds, each with its count per environment."""
    envs = report.status.environments
    return [
        {"name": state, "css": state_css(state), "numbers": [per_env[env] for env in envs]}
        for state, per_env in report.status.counts().items()
        if any(per_env.values())
    ]


def _row(row: Row, report: Report) -> dict[str, Any]:
    history = report.histories.get(row.key)
    events = timeline(history)[: report.history_limit] if history is not None else []
    return {
        "name": row.name,
        "kind": row.kind,
        "identity": row.identity,
        "source": row.source,
        "cells": [
            {"state": row.status[env], "css": state_css(row.status[env])}
            for env in report.status.environments
        ],
        "events": [_event(event) for event in events],
        "notes": history.notes if history is not None else (),
    }


def _event(event: FileEvent | LedgerEvent) -> dict[str, Any]:
    """One line of a record's history: the commit of its file (with its author and subject),
    or the ledger commit that recorded an apply (the audit trail says who applied)."""
    commit = event.commit
    shown: dict[str, Any] = {"date": commit.date[:10], "commit": commit.short, "lines": []}
    if isinstance(event, FileEvent):
        shown.update(_file_event(event), author=commit.author, subject=commit.subject)
    else:
        shown.update(what=_ledger_event(event), author=None, subject=None)
    return shown


def _file_event(event: FileEvent) -> dict[str, Any]:
    moved = event.previous_path and event.previous_path != event.path
    where = f"renamed from {event.previous_path}, " if moved else ""
    if event.boundary:
        return {"what": "in the file when the history was cut (shallow clone)"}
    if event.invalid:
        return {"what": f"{where}not a valid record here", "lines": [event.invalid]}
    if event.change == "added":
        return {"what": f"{where}file added: a new record"}
    if event.change == "deleted":
        return {"what": "file deleted"}
    if not event.fields:
        return {"what": f"{where}no field changed (comments, layout or the file's name only)"}
    count = len(event.fields)
    lines = [_cut(field_line(f)) for f in event.fields[:_FIELD_LINES]]
    if count > _FIELD_LINES:
        lines.append(f"and {count - _FIELD_LINES} more")
    return {"what": f"{where}{count} field{'' if count == 1 else 's'} changed", "lines": lines}


def _ledger_event(event: LedgerEvent) -> str:
    env = event.environment
    if event.intent and not event.applied_at:
        return f"{env}: a {event.intent} started, not yet settled"
    source = f"commit {event.applied_commit[:10]}" if event.applied_commit else "an unknown commit"
    what = f"applied to {env} from {source} ({event.status}), ledger commit"
    if event.boundary:
        what = f"already applied to {env} from {source} ({event.status}) at ledger commit"
    if event.intent:
        what += f", and a {event.intent} started, not yet settled"
    return what


def _cut(text: str) -> str:
    return text if len(text) <= _LINE_CHARACTERS else text[: _LINE_CHARACTERS - 3] + "..."


def _tree(graph: Graph, rows: Mapping[str, Row]) -> list[dict[str, Any]]:
    """The hierarchy as a flat list in drawing order: each item says whether a list of children
    opens after it (`down`) or how many lists close (`up`). A record appears under each of its
    parents; a walk never enters a record twice on one path (no cycle is drawn forever), and
    it needs no recursion however deep the hierarchy is."""
    items: list[dict[str, Any]] = []
    depths: list[int] = []
    for root in graph.roots:
        on_path: set[str] = set()
        stack: list[tuple[str, int, bool]] = [(root, 0, False)]
        while stack:
            key, depth, leaving = stack.pop()
            if leaving:
                on_path.discard(key)
                continue
            items.append(_tree_item(graph, key, rows))
            depths.append(depth)
            on_path.add(key)
            stack.append((key, depth, True))
            kids = [k for k in graph.children.get(key, ()) if k not in on_path]
            stack.extend((child, depth + 1, False) for child in reversed(kids))
    for index, item in enumerate(items):
        after = depths[index + 1] if index + 1 < len(items) else 0
        item["down"] = after > depths[index]
        item["up"] = max(0, depths[index] - after)
    return items


def _tree_item(graph: Graph, key: str, rows: Mapping[str, Row]) -> dict[str, Any]:
    node = graph.nodes[key]
    if node.root is not None:
        return {"root": True, "name": node.name, "identity": node.identity}
    notes = []
    if node.attached:
        notes.append(node.kind)
    if not node.active:
        notes.append("inactive")
    row = rows.get(key)
    badges = []
    if row is not None:
        badges = [
            {"text": f"{env}: {state}", "css": state_css(state)}
            for env, state in row.status.items()
            if state != IN_SYNC
        ]
    name = node.name.strip() or node.identity
    return {
        "root": False,
        "name": name,
        "identity": node.identity,
        "notes": notes,
        "badges": badges,
    }


def _audit(trail: AuditTrail) -> dict[str, Any]:
    return {
        "environment": trail.environment,
        "path": trail.path,
        "exists": trail.exists,
        "total": trail.total,
        "problems": trail.problems,
        "entries": [_audit_entry(entry) for entry in trail.entries],
    }


def _audit_entry(entry: Mapping[str, Any]) -> dict[str, str]:
    result = _text(entry.get("result"))
    actor = _text(entry.get("actor"))
    via = _text(entry.get("via"))
    review = []
    if entry.get("pull_request") not in (None, ""):
        review.append(f"#{_text(entry.get('pull_request'))}")
    approvers = entry.get("approved_by")
    if approvers:
        review.append(f"approved by {_text(approvers)}")
    overrides = entry.get("policy_overrides")
    if overrides:
        review.append(f"policies overridden: {_text(overrides)}")
    digest = _text(entry.get("plan_digest"))
    return {
        "seq": _text(entry.get("seq")),
        "time": _text(entry.get("time")),
        "actor": f"{actor} ({via})" if via else actor,
        "result": result,
        "css": _RESULT_CSS.get(result, "off"),
        "calls": _calls(entry.get("calls")),
        "review": ", ".join(review),
        "commit": _text(entry.get("commit"))[:10],
        "digest": digest[:19] if digest.startswith("sha256:") else digest,
    }


def _calls(calls: Any) -> str:
    """`3: 2 update applied, 1 create failed`, from an entry's calls."""
    if not isinstance(calls, list) or not calls:
        return "none"
    kinds: dict[str, int] = {}
    for call in calls:
        if isinstance(call, Mapping):
            what = f"{_text(call.get('action'))} {_text(call.get('status'))}".strip()
        else:
            what = _text(call)
        kinds[what] = kinds.get(what, 0) + 1
    return f"{len(calls)}: " + ", ".join(f"{n} {what}" for what, n in kinds.items())


def _text(value: Any) -> str:
    """A value of an audit line as text (it is the file's: any JSON)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)
