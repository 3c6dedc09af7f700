"""The ledger on disk: load, atomic save, and the lock that lets one apply at a time."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import LedgerError, LockHeld
from reconciler.jsontext import without_gc
from reconciler.ledger import VERSION, Ledger, LedgerFile, now


@without_gc
def load(path: Path, environment: str, *, shown: str | None = None) -> Ledger:
    """The ledger at `path`; an empty one (no lineage yet) when the file does not exist.
    Problems name the file as `shown` (e.g. relative to the repository) when given."""
    name = shown or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Ledger.new(environment)
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {name}: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LedgerError(
            f"the ledger {name} is corrupt ({exc}). It is written only by reconciler: restore it "
            "from git (git checkout -- <file>) rather than editing it"
        ) from None
    if not isinstance(doc, dict) or "version" not in doc:
        raise LedgerError(f"the ledger {name} is not a reconciler ledger (no version)")
    if doc["version"] != VERSION:
        raise LedgerError(
            f"the ledger {name} has format version {doc['version']!r}; this reconciler reads "
            f"version {VERSION}: upgrade redox-reconciler"
        )
    try:
        parsed = LedgerFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LedgerError(
            f"the ledger {name} is corrupt ({where}: {first['msg']}). Restore it from git"
        ) from None
    if parsed.environment != environment:
        raise LedgerError(
            f"the ledger {name} belongs to environment {parsed.environment!r}, not "
            f"{environment!r}: check the ledger paths in reconciler.yaml"
        )
    return Ledger(
        environment=parsed.environment,
        lineage=parsed.lineage,
        serial=parsed.serial,
        records=dict(parsed.records),
        intents=dict(parsed.intents),
    )


def save(path: Path, ledger: Ledger) -> Ledger:
    """Write `ledger` with serial + 1, atomically: a reader sees the old file or the new one."""
    saved = replace(ledger, serial=ledger.serial + 1, lineage=ledger.lineage or str(uuid.uuid4()))
    atomic_write(path, saved.json_chunks())
    return saved


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Temporary file in the same folder, fsync, rename, fsync the folder. `text` may come in
    pieces, so a large document is never held whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def lock(path: Path, *, purpose: str = "apply") -> Iterator[None]:
    """Hold the lock at `path` (an OS lock: a dead holder releases it) or fail at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_held_message(path)) from None
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": now(),
            "purpose": purpose,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _held_message(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        holder = {}
    who = (
        f"{holder.get('purpose', 'apply')} on host {holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
    )
    return (
        f"another {who} holds the lock {path}: wait for it to finish. The lock is released "
        "when that process exits, even if it is killed."
    )
