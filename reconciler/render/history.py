"""`history`: one record's commits and its ledgers' commits, as text and as a list of events.
Pure."""

from __future__ import annotations

from typing import Any

from reconciler.git.commits import Commit
from reconciler.render.plan import field_document, field_line
from reconciler.views.history import FileEvent, History, LedgerEvent


def _commit_line(commit: Commit) -> str:
    return f"  {commit.short}  {commit.date[:10]}  {commit.author}  {commit.subject}"


def _file_lines(event: FileEvent) -> list[str]:
    where = event.path
    if event.previous_path and event.previous_path != event.path:
        where = f"{event.previous_path} -> {event.path}"
    lines = [f"{_commit_line(event.commit)}  ({event.change} {where})"]
    if event.boundary:
        lines.append("      the history before this commit is missing (shallow clone)")
    elif event.invalid:
        lines.append(f"      not a valid record here: {event.invalid}")
    elif event.change == "added":
        lines.append("      new record: " + ", ".join(f.path for f in event.fields))
    elif event.change == "deleted":
        lines.append("      file deleted")
    elif not event.fields:
        lines.append("      no field changed (comments, layout or the file's name only)")
    else:
        lines.extend(f"      {field_line(f)}" for f in event.fields)
    return lines


def _ledger_lines(event: LedgerEvent) -> list[str]:
    lines = [_commit_line(event.commit)]
    if event.intent and not event.applied_at:
        lines.append(f"      {event.intent} started, not yet settled")
        return lines
    source = event.applied_commit[:10] if event.applied_commit else "an unknown commit"
    lines.append(f"      applied {source} at {event.applied_at} ({event.status})")
    if event.intent:
        lines.append(f"      and a {event.intent} started, not yet settled")
    if event.boundary:
        lines.append("      (already there at the shallow clone's first commit)")
    return lines


def render_history_text(history: History) -> str:
    """The record, its file's commits with the fields each changed, then each environment's
    ledger commits that recorded it; newest first."""
    lines = [f"{history.kind} {history.identity}  {history.name}"]
    lines.append(f"File: {history.file}" if history.file else "File: none")
    lines += ["", "Changes to the file (newest first):"]
    if not history.files:
        lines.append("  none in git")
    for event in history.files:
        lines.extend(_file_lines(event))
    for environment, events in history.ledgers.items():
        lines += ["", f"Applied to {environment} (ledger commits, newest first):"]
        if not events:
            lines.append("  never")
        for ledger_event in events:
            lines.extend(_ledger_lines(ledger_event))
    if history.notes:
        lines.append("")
        lines.extend(f"Note: {note}" for note in history.notes)
    return "\n".join(lines) + "\n"


def _commit_document(commit: Commit) -> dict[str, Any]:
    return {
        "commit": commit.sha,
        "short": commit.short,
        "date": commit.date,
        "author": commit.author,
        "subject": commit.subject,
    }


def timeline(history: History) -> list[FileEvent | LedgerEvent]:
    """Every event of the record, newest first (events of the same second keep git's order,
    the file's before the ledgers')."""
    events: list[FileEvent | LedgerEvent] = [*history.files]
    for ledger_events in history.ledgers.values():
        events.extend(ledger_events)
    events.sort(key=lambda event: -event.commit.timestamp)  # stable
    return events


def history_document(history: History) -> dict[str, Any]:
    """`history --format json`: the record, and its events newest first; a `file` event per
    commit of its file, an `applied` event per ledger commit that recorded it."""
    documents: list[dict[str, Any]] = []
    for event in timeline(history):
        if isinstance(event, FileEvent):
            documents.append(
                {
                    "type": "file",
                    **_commit_document(event.commit),
                    "path": event.path,
                    "change": event.change,
                    "previous_path": event.previous_path,
                    "fields": [field_document(f) for f in event.fields],
                    "invalid": event.invalid,
                    "history_cut": event.boundary,
                }
            )
        else:
            documents.append(
                {
                    "type": "applied",
                    "environment": event.environment,
                    **_commit_document(event.commit),
                    "applied_commit": event.applied_commit,
                    "applied_at": event.applied_at,
                    "status": event.status,
                    "intent": event.intent,
                    "history_cut": event.boundary,
                }
            )
    return {
        "key": history.key,
        "kind": history.kind,
        "identity": history.identity,
        "name": history.name,
        "file": history.file,
        "notes": list(history.notes),
        "events": documents,
    }
