"""Every record's recent history out of git, for the report: one `git log` over the record
folders, one walk over each committed ledger's versions, and the few file versions the newest
events compare, all read through one `git cat-file` process (views/activity.py says how)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.git import reader as git
from reconciler.git.commits import FileChange
from reconciler.git.history import version_wire
from reconciler.kinds import KINDS, kind_of
from reconciler.model import Desired, Environment, Key
from reconciler.views.activity import file_changes, ledger_walk
from reconciler.views.history import History, LedgerEvent, Wire, file_events
from reconciler.views.status import Row

# Bytes of ledger versions read per environment: the whole history of a small ledger, the
# newest few versions of a 10,000-record one (about 20 MB each).
LEDGER_BUDGET = 100_000_000


@dataclass(frozen=True)
class Activity:
    """Each record's newest events (as `history` builds them), and what the reading left out."""

    histories: dict[Key, History]
    notes: tuple[str, ...]


def recent_activity(
    repo: Path,
    rows: Sequence[Row],
    *,
    env: Environment,
    desired: Mapping[Key, Desired],
    ledgers: Mapping[str, str],
    limit: int,
    budget: int = LEDGER_BUDGET,
) -> Activity:
    """The newest `limit` events of every record of `rows` in the git repository around `repo`:
    commits of its file (its versions read as files for `env`, whose wire forms `desired`
    holds for the files as they are) and commits of each ledger of `ledgers` (environment ->
    its file) that recorded it."""
    if not git.in_repository(repo):
        return Activity({}, (f"{repo} is not in a git repository with a commit: no history.",))
    shallow = git.shallow_commits(repo)
    notes = git.shallow_note(shallow)
    folders = sorted({kind.folder for kind in KINDS.values()})
    paths = {row.source: row.key for row in rows if row.source}
    changes = file_changes(git.folders_log(repo, folders), paths, limit=limit)
    dirty = _uncommitted(repo, folders)
    with git.blobs(repo) as reader:
        applied: dict[str, dict[Key, list[LedgerEvent]]] = {}
        for environment, ledger_path in ledgers.items():
            commits = git.commits_of(repo, ledger_path)
            if not commits:
                notes.append(f"{environment}: {ledger_path} has no commit yet.")

            def read(sha: str, path: str = ledger_path) -> bytes | None:
                return reader.read(sha, path)

            walk = ledger_walk(
                environment, commits, read, limit=limit, budget=budget, shallow=shallow
            )
            applied[environment] = walk.events
            if walk.cut is not None:
                notes.append(
                    f"{environment}: applied events come from the newest {walk.read} of the "
                    f"{walk.commits} commits of {ledger_path} (since {walk.cut.date[:10]}); "
                    "`reconciler history IDENTITY` shows a record's whole history."
                )
        wire = _Wire(env, desired)
        # The newest change of a file without uncommitted changes left it as it is on disk:
        # that version's wire form is the one loaded already, and it is not read again.
        on_disk = {
            (found[0].commit.sha, found[0].path)
            for found in changes.values()
            if found and found[0].status != "D" and found[0].path not in dirty
        }

        def version(sha: str, path: str) -> bytes | None:
            if (sha, path) in on_disk and wire.loaded(path):
                return AS_LOADED
            return reader.read(sha, path)

        histories = {}
        for row in rows:
            per_env = {name: events.get(row.key, []) for name, events in applied.items()}
            newest = _newest(changes.get(row.key, []), per_env, limit)
            files = file_events(newest, version, wire.of(row.kind), shallow, whole=False)
            histories[row.key] = History(
                key=row.key,
                kind=row.kind,
                identity=row.identity,
                name=row.name,
                file=row.source if row.key in desired else None,
                files=tuple(files),
                ledgers={name: tuple(events) for name, events in per_env.items()},
                notes=(f"{row.source} has changes that are not committed.",)
                if row.source in dirty
                else (),
            )
    return Activity(histories, tuple(notes))


def _newest(
    changes: list[FileChange], per_env: dict[str, list[LedgerEvent]], limit: int
) -> list[FileChange]:
    """The file changes among the record's `limit` newest events (only those are compared);
    the ledger events are cut to them in place."""
    times = sorted(
        [c.commit.timestamp for c in changes]
        + [e.commit.timestamp for events in per_env.values() for e in events],
        reverse=True,
    )
    if len(times) <= limit:
        return changes
    oldest = times[limit - 1]
    for name, events in per_env.items():
        per_env[name] = [e for e in events if e.commit.timestamp >= oldest]
    return [c for c in changes if c.commit.timestamp >= oldest]


def _uncommitted(repo: Path, folders: Sequence[str]) -> set[str]:
    """The record files (relative to `repo`) with changes that are not committed."""
    out = git.git(repo, "status", "--porcelain", "-z", "--", *folders)
    top = git.git(repo, "rev-parse", "--show-prefix").strip()
    found = set()
    for item in out.split("\x00"):
        path = item[3:]
        if len(item) > 3 and path.startswith(top):
            found.add(path[len(top) :])
    return found


# Stands for a version of a file that is the file on disk, whose wire form was loaded already:
# never read again (compared by identity: no bytes read from git are this object).
AS_LOADED = b"\x00the record file as loaded\x00"


class _Wire:
    """The wire form of a version of a record file: the one already loaded for the file as it
    is on disk, else the version loaded as `history` loads it."""

    def __init__(self, env: Environment, desired: Mapping[Key, Desired]) -> None:
        self._env = env
        self._loaded = {want.file: want for want in desired.values() if want.file}

    def loaded(self, shown: str) -> bool:
        """Whether the file's wire form as it is on disk was loaded."""
        return shown in self._loaded

    def of(self, kind_name: str) -> Wire:
        kind = kind_of(kind_name)

        def wire(raw: bytes | None, shown: str) -> tuple[dict[str, Any] | None, str | None]:
            if raw is None:
                return None, None
            if raw is AS_LOADED:
                loaded = self._loaded[shown]
                return {**loaded.envelope, **loaded.payload}, None
            return version_wire(raw, shown, kind, self._env)

        return wire
