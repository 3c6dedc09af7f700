"""Reading one record's history out of git (`history`): find its file, list the commits of the
file and of each committed ledger, and read the versions that history.py compares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.formats import files
from reconciler.git import reader as git
from reconciler.kinds import KINDS, kind_of
from reconciler.ledger.model import Ledger
from reconciler.model import Environment, Key, Kind, make_key, split_key
from reconciler.records.loader import load_file, record_files
from reconciler.views.history import FileEvent, History, LedgerEvent, file_events, ledger_events


def record_history(
    repo: Path,
    identity: str,
    *,
    env: Environment,
    ledgers: Mapping[str, str],
    load_ledgers: Callable[[], list[Ledger]],
) -> History:
    """The history of the record `identity` (or its key `kind:identity`) in the git repository
    around `repo`, its versions read as files for `env`. `ledgers` maps each environment to its
    ledger file; `load_ledgers` reads the current ledgers, to find a record no file holds."""
    if not git.in_repository(repo):
        raise ReconcilerError(f"{repo} is not in a git repository with a commit: history reads git")
    key, path, name = _find(repo, identity, env, load_ledgers)
    kind_name, ident = split_key(key)
    kind = kind_of(kind_name)
    shallow = git.shallow_commits(repo)
    notes = git.shallow_note(shallow)

    def wire(raw: bytes | None, shown: str) -> tuple[dict[str, Any] | None, str | None]:
        return version_wire(raw, shown, kind, env)

    with git.blobs(repo) as reader:
        files: tuple[FileEvent, ...] = ()
        if path is not None:
            files = tuple(file_events(git.file_log(repo, path), reader.read, wire, shallow))
            if git.git(repo, "status", "--porcelain", "--", path).strip():
                notes.append(f"{path} has changes that are not committed.")
        per_env: dict[str, tuple[LedgerEvent, ...]] = {}
        for environment, ledger_path in ledgers.items():
            commits = git.commits_of(repo, ledger_path)
            if not commits:
                notes.append(f"{environment}: {ledger_path} has no commit yet.")
            per_env[environment] = tuple(
                ledger_events(environment, commits, ledger_path, key, reader.read, shallow)
            )
    return History(key, kind_name, ident, name, path, files, per_env, tuple(notes))


def _find(
    repo: Path, identity: str, env: Environment, load_ledgers: Callable[[], list[Ledger]]
) -> tuple[Key, str | None, str]:
    """(key, file relative to `repo` or None, name) of the record named by identity or key.
    Only the files whose text holds the identity are parsed."""
    kind_name, _, rest = identity.partition(":")
    named = bool(rest) and kind_name in KINDS
    kinds = [KINDS[kind_name]] if named else list(KINDS.values())
    ident = rest if named else identity
    needle = ident.encode()
    for kind in kinds:
        for file in record_files(repo, kind):
            try:
                if needle not in file.read_bytes():
                    continue
            except OSError:
                continue
            shown = file.relative_to(repo).as_posix()
            loaded, _ = load_file(file, shown, kind, env)
            if loaded is not None and kind.identity(loaded.cross_values) == ident:
                payload = loaded.desired.payload if loaded.desired else {}
                return make_key(kind.name, ident), shown, kind.display_name(payload, ident)
    ledgers = load_ledgers()
    for kind in kinds:
        key = make_key(kind.name, ident)
        for ledger in ledgers:
            entry = ledger.records.get(key)
            if entry is not None:
                return key, entry.source, kind.display_name(entry.payload, ident)
    raise ReconcilerError(
        f"no record {identity} in the files or the ledgers: name it by its identity (an "
        "organization's OID, a provider's NPI) or by its key (kind:identity)"
    )


def version_wire(
    raw: bytes | None, shown: str, kind: Kind, env: Environment
) -> tuple[dict[str, Any] | None, str | None]:
    """The wire form (envelope and payload, as the plan compares them) of one version of a
    record file, or why that version is no valid record. Loaded by the loader itself, from its
    bytes, so a past version is judged exactly as a file of today."""
    if raw is None:
        return None, None
    if len(raw) > files.MAX_FILE_BYTES:
        return None, f"{shown} is more than the limit of {files.size_text(files.MAX_FILE_BYTES)}"
    loaded, problems = load_file(Path(shown), shown, kind, env, raw=raw)
    errors = [p for p in problems if p.severity == "error"]
    if errors or loaded is None or loaded.desired is None:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return None, f"{errors[0]}{more}" if errors else f"{shown} holds no valid record"
    return {**loaded.desired.envelope, **loaded.desired.payload}, None
