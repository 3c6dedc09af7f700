"""Every record's recent history at once, for the report: the newest commits of each record's
file, out of one pass over the log of all record files, and the newest ledger commits that
recorded each record, out of one walk over each ledger's versions; never one `history` per
record. The events are history.py's, so the report shows what `history` shows. Pure:
git/activity.py reads git and hands what it reads to the functions here.

A ledger version is cut into its entries by the layout the tool writes (sorted keys, a fixed
indent: an entry begins on a line `    "<key>": {` and ends on the line `    }`), and two
versions are compared entry by entry as bytes: only an entry that changed is parsed. Reading
every version of a large ledger costs a read of the whole file each (a 10,000-record ledger is
about 20 MB), so the walk stops after a budget of bytes: the records still in the ledger at the
oldest version read are shown as already applied there, as at a shallow clone's first commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.formats import jsonfile
from reconciler.formats.jsontext import canonical_json
from reconciler.git.commits import Commit, FileChange
from reconciler.model import Key
from reconciler.views.history import LedgerEvent

_SECTIONS = {b'\n  "intents": {\n': 1, b'\n  "records": {\n': 0}
_SECTION_END = b"\n  }"
_KEY_LINE = b'    "'  # an entry's first line: its key, indented four spaces
_NEXT = b',\n    "'  # the end of an entry and the key line of the next
_CLOSE = b"\n    }"
_SHOWN = (b"commit", b"applied_at", b"status", b"action")  # the entry's fields an event shows

# key -> (its record entry's JSON, its intent's JSON), each None when absent
Entries = dict[Key, tuple[bytes | None, bytes | None]]


def file_changes(
    log: Iterable[tuple[Commit, Sequence[FileChange]]],
    paths: Mapping[str, Key],
    *,
    limit: int,
) -> dict[Key, list[FileChange]]:
    """For each record, the newest `limit` changes of its file out of `log` (newest first, every
    commit's changes to record files), following renames back from `paths` (each record's file
    now, or where its ledger says it was)."""
    tracking = dict(paths)
    found: dict[Key, list[FileChange]] = {}
    full = 0
    for _commit, changes in log:
        moves: list[tuple[str, str | None, Key]] = []
        for change in changes:
            key = tracking.get(change.path)
            if key is None:
                continue
            bucket = found.setdefault(key, [])
            if len(bucket) < limit:
                bucket.append(change)
                if len(bucket) == limit:
                    full += 1
            if change.status in "RCA":
                # Before this commit the record's file was the renamed one (a copy's source
                # is another record's file, an added file had none).
                moves.append((change.path, change.old_path if change.status == "R" else None, key))
        for path, _old_path, key in moves:
            if tracking.get(path) == key:
                del tracking[path]
        for _path, old_path, key in moves:
            if old_path is not None:
                tracking[old_path] = key
        if full == len(paths) or not tracking:
            break
    return found


@dataclass(frozen=True)
class VersionWalk:
    """What the walk over one ledger's versions found."""

    events: dict[Key, list[LedgerEvent]]  # newest first, at most the limit per record
    read: int  # versions read
    commits: int  # the ledger's commits (first parent)
    cut: Commit | None = None  # the oldest version read, when older ones were left unread


def ledger_walk(
    environment: str,
    commits: Sequence[Commit],
    read: Callable[[str], bytes | None],
    *,
    limit: int,
    budget: int,
    shallow: frozenset[str] = frozenset(),
) -> VersionWalk:
    """The newest `limit` commits of a ledger (`commits` newest first, `read` its file at a
    commit) at which each record's entry changed. Versions are read until `budget` bytes have
    been read (at least two), or every record has its `limit`."""
    events: dict[Key, list[LedgerEvent]] = {}
    newer: tuple[Commit, Entries] | None = None
    spent = 0
    cut: Commit | None = None
    count = 0
    for index, commit in enumerate(commits):
        raw = read(commit.sha)
        count = index + 1
        entries = ledger_entries(raw)
        spent += len(raw or b"")
        if newer is not None:
            _record(environment, newer, entries, events, limit=limit, boundary=False)
        newer = (commit, entries)
        if index == len(commits) - 1 or _settled(events, entries, limit):
            break
        if spent >= budget and index >= 1:
            cut = commit
            break
    if newer is not None:
        # The oldest version read: its entries were recorded at its commit, or were there
        # already when older versions are not read (the walk was cut, or a shallow clone).
        boundary = cut is not None or newer[0].sha in shallow
        _record(environment, newer, {}, events, limit=limit, boundary=boundary)
    return VersionWalk(events, count, len(commits), cut)


def _settled(events: dict[Key, list[LedgerEvent]], entries: Entries, limit: int) -> bool:
    """Whether every record of this version already has its `limit` events."""
    return all(len(events.get(key, ())) >= limit for key in entries)


def _record(
    environment: str,
    newer: tuple[Commit, Entries],
    older: Entries,
    events: dict[Key, list[LedgerEvent]],
    *,
    limit: int,
    boundary: bool,
) -> None:
    """An event at the newer commit for each record whose entry differs from the older one."""
    commit, entries = newer
    for key, state in entries.items():
        if state == older.get(key) or state == (None, None):
            continue
        bucket = events.setdefault(key, [])
        if len(bucket) >= limit:
            continue
        entry, intent = (_value(part) for part in state)
        bucket.append(LedgerEvent.of(environment, commit, entry, intent, boundary=boundary))


def _value(text: bytes | None) -> dict[str, Any] | None:
    """What an event shows of an entry (`"<key>": {...}`): the top-level fields it reads, each
    from its own line in the tool's layout (the payload is never parsed); the whole entry
    parsed in another layout. None when absent or no object."""
    if text is None:
        return None
    if not (text.startswith(b'    "') and text.endswith(_CLOSE)):
        return _whole(text)
    fields: dict[str, Any] = {}
    for name in _SHOWN:
        at = text.find(b'\n      "' + name + b'": ')
        if at < 0:
            continue
        start = at + len(name) + 11  # the line up to the value: `\n      "<name>": `
        value = text[start : text.find(b"\n", start)].removesuffix(b",")
        if value == b"null":
            fields[name.decode()] = None
            continue
        if value.startswith(b'"') and value.endswith(b'"') and b"\\" not in value:
            fields[name.decode()] = value[1:-1].decode()
            continue
        try:
            fields[name.decode()] = json.loads(value)
        except ValueError:
            return _whole(text)
    return fields


def _whole(text: bytes) -> dict[str, Any] | None:
    try:
        value = jsonfile.loads(text[text.index(b": {") + 2 :])
    except (ValueError, jsonfile.JsonProblem):
        return None
    return value if isinstance(value, dict) else None


def ledger_entries(raw: bytes | None) -> Entries:
    """Every record and intent of a ledger file's bytes, each as its JSON text: cut out by the
    layout the tool writes, or, in another layout, from the whole file parsed (and written in
    canonical JSON); empty when it is no ledger."""
    if raw is None:
        return {}
    entries: Entries = {}
    found = False
    for header, side in _SECTIONS.items():
        start = raw.find(header)
        if start < 0:
            continue
        found = True
        stop = raw.find(_SECTION_END, start + len(header) - 1)
        if stop < 0:
            return _parsed(raw)
        # Entries are separated by `,` and the next one's key line; no line inside an entry
        # starts with four spaces and a quote (its fields are indented further).
        for index, part in enumerate(raw[start + len(header) : stop].split(_NEXT)):
            text = part if index == 0 else _KEY_LINE + part
            head = text[: text.find(b"\n")]
            if not (head.startswith(_KEY_LINE) and head.endswith(b'": {')):
                return _parsed(raw)
            if not text.endswith(_CLOSE):
                return _parsed(raw)
            quoted = head[4:-3]
            try:
                key = quoted[1:-1].decode() if b"\\" not in quoted else json.loads(quoted)
            except ValueError:
                return _parsed(raw)
            old = entries.get(key, (None, None))
            entries[key] = (text, old[1]) if side == 0 else (old[0], text)
    return entries if found else _parsed(raw)


def _parsed(raw: bytes) -> Entries:
    """ledger_entries of a file in another layout: read whole."""
    try:
        doc = jsonfile.loads(raw)
    except jsonfile.JsonProblem:
        return {}
    if not isinstance(doc, dict):
        return {}
    entries: Entries = {}
    for side, section in enumerate(("records", "intents")):
        values = doc.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            text = (json.dumps(key) + ": " + canonical_json(value)).encode()
            old = entries.get(key, (None, None))
            entries[key] = (text, old[1]) if side == 0 else (old[0], text)
    return entries
