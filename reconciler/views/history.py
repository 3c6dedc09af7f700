"""One record's history (SPEC 6) as data: the commits that changed its file, with the fields each
changed, and the commits of each environment's ledger that recorded it. Pure: history_git.py
reads git and hands what it reads to the functions here.

Reading a ledger at every commit would parse the whole file each time (a 10,000-record ledger
is over 10 MB). Instead only the record's own entry is cut out of the ledger's text (the tool
writes it with sorted keys and a fixed indent, one entry per record key), and only at the
commits a bisection needs: an entry carries the time it was applied, which only grows, so two
commits holding the same entry have no change of it between them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.formats import jsonfile
from reconciler.formats.jsontext import canonical_json
from reconciler.git.commits import Commit, FileChange
from reconciler.model import Key
from reconciler.plan import FieldChange, field_changes

CHANGES = {"A": "added", "M": "modified", "R": "renamed", "C": "copied", "D": "deleted"}


@dataclass(frozen=True)
class FileEvent:
    """A commit that changed the record's file, and the fields it changed."""

    commit: Commit
    path: str
    change: str  # added, modified, renamed, copied, deleted
    previous_path: str | None
    fields: tuple[FieldChange, ...]
    invalid: str | None = None  # why a version of the file is no valid record
    boundary: bool = False  # a shallow clone's first commit: what came before is missing


@dataclass(frozen=True)
class LedgerEvent:
    """A commit of an environment's ledger that recorded the record (applied, or a call
    started and not yet settled)."""

    environment: str
    commit: Commit
    applied_commit: str | None  # the source commit the record was applied from
    applied_at: str | None
    status: str | None  # active, inactive
    intent: str | None = None  # the action of a call that was started and not settled
    boundary: bool = False  # already in the ledger at a shallow clone's first commit

    @classmethod
    def of(
        cls,
        environment: str,
        commit: Commit,
        entry: dict[str, Any] | None,
        intent: dict[str, Any] | None,
        *,
        boundary: bool,
    ) -> LedgerEvent:
        """The event of a ledger version holding this entry and intent (either may be None)."""
        entry = entry or {}
        return cls(
            environment=environment,
            commit=commit,
            applied_commit=entry.get("commit"),
            applied_at=entry.get("applied_at"),
            status=entry.get("status"),
            intent=(intent or {}).get("action"),
            boundary=boundary,
        )


@dataclass(frozen=True)
class History:
    """Everything `history` shows of one record, newest first."""

    key: Key
    kind: str
    identity: str
    name: str
    file: str | None
    files: tuple[FileEvent, ...]
    ledgers: dict[str, tuple[LedgerEvent, ...]]
    notes: tuple[str, ...]


Read = Callable[[str, str], bytes | None]  # (commit, path) -> the file there, None if absent
# One version of the record's file -> (its wire form, or None; why it is no valid record).
Wire = Callable[[bytes | None, str], tuple[dict[str, Any] | None, str | None]]


def file_events(
    changes: list[FileChange],
    read: Read,
    wire: Wire,
    shallow: frozenset[str],
    *,
    whole: bool = True,
) -> list[FileEvent]:
    """For each commit of the file, the fields that changed in its wire form: the plan's diff
    of the version before (at the first parent) and the version after. Without `whole`, a
    record added or deleted lists no fields (the report says only that it came or went)."""
    events: list[FileEvent] = []
    for change in changes:
        commit = change.commit
        boundary = commit.sha in shallow
        fields: tuple[FieldChange, ...] = ()
        invalid = None
        if not boundary:
            parent = commit.parents[0] if commit.parents else None
            before_path = change.old_path or change.path
            before = read(parent, before_path) if change.status != "A" and parent else None
            after = None if change.status == "D" else read(commit.sha, change.path)
            old, old_problem = wire(before, before_path)
            new, new_problem = wire(after, change.path)
            invalid = new_problem or old_problem
            if invalid is None and (whole or (old is not None and new is not None)):
                fields = _diff(old, new)
        events.append(
            FileEvent(
                commit=commit,
                path=change.path,
                change="present at the cut" if boundary else CHANGES.get(change.status, "changed"),
                previous_path=change.old_path,
                fields=fields,
                invalid=invalid,
                boundary=boundary,
            )
        )
    return events


def _diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[FieldChange, ...]:
    """The plan's field diff; a whole record added or removed is each of its fields."""
    if old is None or new is None:
        side = "after" if old is None else "before"
        whole = new if old is None else old
        return tuple(
            FieldChange(path, **{side: value, "added" if old is None else "removed": True})
            for path, value in (whole or {}).items()
        )
    return field_changes(old, new)


Entry = tuple[dict[str, Any] | None, dict[str, Any] | None]  # (record entry, intent)


def ledger_events(
    environment: str,
    commits: list[Commit],
    path: str,
    key: Key,
    read: Read,
    shallow: frozenset[str],
) -> list[LedgerEvent]:
    """The commits (newest first) of a ledger at which the record's entry changed."""
    entries: dict[int, Entry] = {}

    def state(index: int) -> tuple[str, str]:
        if index == len(commits):  # before the ledger's first commit: no entry
            return ("", "")
        if index not in entries:
            entries[index] = entry_at(read(commits[index].sha, path), key)
        entry, intent = entries[index]
        return (canonical_json(entry) if entry else "", canonical_json(intent) if intent else "")

    events = []
    for index in bisect_changes(len(commits), state):
        entry, intent = entries[index]
        if entry is None and intent is None:
            continue
        commit = commits[index]
        boundary = index == len(commits) - 1 and commit.sha in shallow
        events.append(LedgerEvent.of(environment, commit, entry, intent, boundary=boundary))
    return events


def bisect_changes(count: int, state: Callable[[int], tuple[str, str]]) -> list[int]:
    """The indexes i < count (newest first) where state(i) differs from state(i + 1), where
    state(count) is the state before the first. Reads state at O(changes x log(count)) indexes:
    a span whose two ends hold the same state holds no change (states never come back)."""
    found: list[int] = []
    spans = [(0, count)]
    while spans:
        newer, older = spans.pop()
        if state(newer) == state(older):
            continue
        if older - newer == 1:
            found.append(newer)
            continue
        middle = (newer + older) // 2
        spans += [(middle, older), (newer, middle)]
    return sorted(found)


def entry_at(raw: bytes | None, key: Key) -> Entry:
    """(record entry, intent) of `key` in a ledger file's bytes: only their own lines are parsed
    when the file has the layout the tool writes; the whole file otherwise."""
    if raw is None:
        return None, None
    needle = b"\n    " + json.dumps(key, ensure_ascii=False).encode() + b": {"
    records = raw.find(b'\n  "records": {')
    intents = raw.find(b'\n  "intents": {')
    if records >= 0 and intents >= 0:
        try:
            return (
                _cut(raw, needle, records, len(raw)),
                _cut(raw, needle, intents, records if intents < records else len(raw)),
            )
        except ValueError:
            pass  # not the tool's layout after all: read the whole file
    try:
        doc = jsonfile.loads(raw)
        found = doc.get("records", {}).get(key), doc.get("intents", {}).get(key)
    except (jsonfile.JsonProblem, AttributeError):
        return None, None  # a version of the ledger git holds that is no ledger: not applied
    entry, intent = (value if isinstance(value, dict) else None for value in found)
    return entry, intent


def _cut(raw: bytes, needle: bytes, start: int, stop: int) -> dict[str, Any] | None:
    at = raw.find(needle, start, stop)
    if at < 0:
        return None
    begin = at + len(needle) - 1
    end = raw.find(b"\n    }", begin)
    if end < 0:
        raise ValueError("no end of the entry")
    try:
        value = jsonfile.loads(raw[begin : end + 6])
    except jsonfile.JsonProblem as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(value, dict):
        raise ValueError("the entry is no object")
    return value
