"""The ledger on disk: strict load, atomic save, and the lock that lets one apply at a time.

The ledger is written only by the tool, but it lives in git, where a hand edit, a bad merge or
a hostile pull request can change it. So it is read back as strictly as the user's YAML, in
steps that each say what they guarantee to everything after them:

1. `read_ledger_bytes`: a regular file inside the repository (never a FIFO, a device or a
   symlink out of the repository);
2. `jsonfile.loads`: plain JSON, nested at most jsonfile.MAX_DEPTH levels, no NaN or Infinity,
   no number beyond 64 bits;
3. `check_version`, then `LedgerFile` (pydantic): the types and keys of the format;
4. `check_entries`: each record's and intent's key is `<kind>:<identity>` of a known kind,
   and each intent's action is one a plan can hold.

A failure names the file, the path inside it and the fix (restore the committed version); a
corrupt ledger is never overwritten, because every writer loads it first.

A ledger in the layout the tool writes is read record by record (ledger_text), with each of
these checks made on every part; anything else is read whole, as above.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import ValidationError

from reconciler.errors import LedgerError, LockHeld, ReconcilerError, quoted
from reconciler.formats import files, jsonfile, redact
from reconciler.formats.jsontext import without_gc
from reconciler.kinds import kind_of
from reconciler.ledger import text as ledger_text
from reconciler.ledger.model import VERSION, Entry, Ledger, LedgerFile, now
from reconciler.model import Action, make_key

logger = logging.getLogger(__name__)
_ACTIONS = frozenset(action.value for action in Action)


def corrupt(name: str, problem: jsonfile.JsonProblem) -> LedgerError:
    """The error of a ledger that fails a check, with the fix."""
    where = f" at {problem.where}" if problem.where else ""
    return LedgerError(
        f"the ledger {name} is corrupt{where}: {problem.message}. Only reconciler writes it: "
        f"restore the last committed version (git checkout -- {name}) rather than editing it. "
        "Nothing was applied, and the file was left as it is."
    )


def read_ledger_bytes(path: Path, *, name: str, root: Path | None) -> bytes | None:
    """The bytes of the ledger file, None when there is none yet. `root` (resolved) is the
    repository the file and any symlink to it must stay inside."""
    try:
        if root is not None:
            # Also when the file does not exist yet: the ledger's folder may not lead out.
            files.inside_or_absent(path, root)
        return files.read_bytes(
            path, root=root or path.parent.resolve(), limit=files.MAX_DOCUMENT_BYTES
        )
    except FileNotFoundError:
        return None
    except files.Unreadable as exc:
        raise LedgerError(
            f"the ledger {name} {exc}; check the ledger path in reconciler.yaml"
        ) from None
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {name}: {exc.strerror or exc}") from None


def check_version(doc: Any, name: str) -> None:
    """LedgerError unless `doc` is a ledger document of the version this reconciler reads."""
    if not isinstance(doc, dict) or "version" not in doc:
        raise LedgerError(
            f"the ledger {name} is not a reconciler ledger (no version): restore it from git "
            f"(git checkout -- {name}), or remove it if it was never applied"
        )
    if doc["version"] != VERSION:
        raise LedgerError(
            f"the ledger {name} has format version {quoted(doc['version'])}; this reconciler "
            f"reads version {VERSION}: upgrade redox-reconciler"
        )


def check_entries(parsed: LedgerFile) -> None:
    """JsonProblem unless every record and intent is keyed `<kind>:<identity>` by a known kind
    and every intent's action is a plan's. (The payload is any JSON object: what the kinds read
    of it, they read defensively.)"""
    for section, items in (("records", parsed.records), ("intents", parsed.intents)):
        for key, item in items.items():
            where = jsonfile.dotted((section, key))
            try:
                kind_of(item.kind)
            except ReconcilerError as exc:
                raise jsonfile.JsonProblem(str(exc), where + ".kind") from None
            if key != make_key(item.kind, item.identity):
                raise jsonfile.JsonProblem(
                    f"the key does not match kind {quoted(item.kind)} and identity "
                    f"{quoted(item.identity)}",
                    where,
                )
    for key, intent in parsed.intents.items():
        if intent.action not in _ACTIONS:
            raise jsonfile.JsonProblem(
                f"{quoted(intent.action)} is not an action (one of {', '.join(sorted(_ACTIONS))})",
                jsonfile.dotted(("intents", key, "action")),
            )


def parse(raw: bytes, environment: str, *, name: str, path: Path | None = None) -> Ledger:
    """A ledger from the bytes of its file, checked in full (steps 2 to 4 above). With the
    file's `path`, its records are read from it again when asked for (ledger_text.OnDisk)."""
    lean = ledger_text.parse(raw, environment, path=path)  # record by record, when it can
    if lean is not None:
        return lean
    try:
        doc = jsonfile.loads(raw)
    except jsonfile.JsonProblem as exc:
        raise corrupt(name, exc) from None
    check_version(doc, name)
    try:
        parsed = LedgerFile.model_validate(doc)
        check_entries(parsed)
    except ValidationError as exc:
        raise corrupt(name, jsonfile.first_error(exc)) from None
    except jsonfile.JsonProblem as exc:
        raise corrupt(name, exc) from None
    if parsed.environment != environment:
        raise LedgerError(
            f"the ledger {name} belongs to environment {quoted(parsed.environment)}, not "
            f"{quoted(environment)}: check the ledger paths in reconciler.yaml"
        )
    return Ledger(
        environment=parsed.environment,
        lineage=parsed.lineage,
        serial=parsed.serial,
        records={key: Entry.of(entry) for key, entry in parsed.records.items()},
        intents=dict(parsed.intents),
    )


@without_gc
def load(
    path: Path,
    environment: str,
    *,
    shown: str | None = None,
    root: Path | None = None,
    reading: bool = False,
) -> Ledger:
    """The ledger at `path`; an empty one (no lineage yet) when the file does not exist.
    Problems name the file as `shown` (e.g. relative to the repository) when given; `root`
    (resolved) is the repository no symlink may lead out of. `reading`: for a command that
    only reads the ledger, whose records need not hold the file's bytes."""
    name = shown or str(path)
    raw = read_ledger_bytes(path, name=name, root=root)
    if raw is None:
        return Ledger.new(environment)
    return parse(raw, environment, name=name, path=path if reading else None)


def save(path: Path, ledger: Ledger) -> Ledger:
    """Write `ledger` with serial + 1, atomically: a reader sees the old file or the new one."""
    saved = replace(ledger, serial=ledger.serial + 1, lineage=ledger.lineage or str(uuid.uuid4()))
    atomic_write(path, saved.json_chunks())
    return saved


TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Temporary file in the same folder, fsync, rename, fsync the folder. `text` may come in
    pieces, so a large document is never held whole. Secrets of the run are masked (redact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if isinstance(text, str):
                handle.write(redact.redact(text))
            else:
                handle.writelines(redact.redact_all(text))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename or unlink in it survives a crash."""
    if sys.platform == "win32":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the temporary files a killed `atomic_write` of `path` left beside it; the caller
    holds the lock, so no save of `path` is under way. The files removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            name = entry.name
            if (
                name.startswith(f".{path.name}.")
                and name.endswith(TEMP_SUFFIX)
                and entry.is_file(follow_symlinks=False)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def lock_name(ledger: Path, root: Path) -> str:
    """The lock file's name for a ledger: its resolved path inside the repository, so that two
    environment names that share one ledger file share one lock."""
    real = Path(os.path.realpath(ledger))
    try:
        relative = real.relative_to(root).as_posix()
    except ValueError:
        relative = real.as_posix()
    return relative.replace("%", "%25").replace("/", "%2F").replace(":", "%3A") + ".lock"


@contextlib.contextmanager
def lock(path: Path, *, purpose: str = "apply", ledger: Path | None = None) -> Iterator[None]:
    """Hold the lock at `path` (an OS lock, via filelock: a dead holder releases it) or fail at
    once, naming the holder. The holder's host, pid and start time are kept beside it in
    `<path>.holder`: the lock file itself cannot carry them (filelock truncates it on every
    attempt, and Windows locks its bytes). A holder record left with the lock free is a holder
    that was killed: recognised as stale, and taken over. With `ledger`, the temporary files a
    killed save of it left are removed once the lock is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder_path = holder_file(path)
    file_lock = FileLock(path, blocking=False)
    try:
        file_lock.acquire()
    except Timeout:
        raise LockHeld(_held_message(path)) from None
    try:
        stale = _read_holder(holder_path)
        if stale:
            logger.warning(
                "the lock %s was left by %s, which ended without releasing it (killed?): "
                "taking it over",
                path,
                _who(stale),
            )
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": now(),
            "purpose": purpose,
        }
        holder_path.write_text(json.dumps(holder) + "\n", encoding="utf-8")
        if ledger is not None:
            for leftover in remove_leftovers(ledger):
                logger.info("removed %s, left by a save that was killed", leftover.name)
        try:
            yield
        finally:
            holder_path.write_text("", encoding="utf-8")
    finally:
        file_lock.release()


def holder_file(path: Path) -> Path:
    """Where the holder of the lock at `path` is recorded."""
    return path.with_name(path.name + ".holder")


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _who(holder: dict[str, Any]) -> str:
    return (
        f"{holder.get('purpose', 'apply')} on host {holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
    )


def _held_message(path: Path) -> str:
    holder = _read_holder(holder_file(path))
    who = _who(holder) if holder else "apply (it has just started)"
    return (
        f"another {who} holds the lock {path}: wait for it to finish. The lock is released "
        "when that process exits, even if it is killed."
    )
