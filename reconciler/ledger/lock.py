"""The lock that lets one apply (or import) at a time change a ledger: an OS lock (filelock: a
dead holder releases it), failing at once with the holder's name when it is taken."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.errors import LockHeld
from reconciler.ledger.model import now

logger = logging.getLogger(__name__)


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
def lock(path: Path, *, purpose: str = "apply") -> Iterator[None]:
    """Hold the lock at `path` (an OS lock, via filelock: a dead holder releases it) or fail at
    once, naming the holder. The holder's host, pid and start time are kept beside it in
    `<path>.holder`: the lock file itself cannot carry them (filelock truncates it on every
    attempt, and Windows locks its bytes). A holder record left with the lock free is a holder
    that was killed: recognised as stale, and taken over."""
    from filelock import FileLock, Timeout  # here: commands that only read take no lock

    path.parent.mkdir(parents=True, exist_ok=True)
    holder_path = holder_file(path)
    file_lock = FileLock(path, blocking=False)
    try:
        file_lock.acquire()
    except Timeout:
        raise LockHeld(held_message(path)) from None
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


def held_message(path: Path) -> str:
    """Who holds the lock at `path`, as the error of a second apply says it."""
    holder = _read_holder(holder_file(path))
    who = _who(holder) if holder else "apply (it has just started)"
    return (
        f"another {who} holds the lock {path}: wait for it to finish. The lock is released "
        "when that process exits, even if it is killed."
    )
