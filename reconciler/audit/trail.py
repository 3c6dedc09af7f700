"""The audit trail on disk: one line appended per apply, crash-safe and at a cost that does not
grow with the trail, and every line read back strictly.

Appending (the caller holds the environment's apply lock, which serialises appends):

1. the last line is read from the end of the file (never the whole file) for its `seq` and
   `hash`; a last line cut short, or one that is no valid entry, stops the append and says how
   to fix it;
2. the new line is sealed after it and written to a redo record in `.reconciler/audit/`
   (atomically: temporary file, fsync, rename);
3. the line is appended with one `os.write` (O_APPEND) and fsynced; the redo record goes.

A kill -9 before 2 ends leaves the trail as it was. A kill -9 after it leaves the redo record and
all of the line, none of it, or (rarely: a write that spans two pages can be cut between them;
a power loss can keep less of it) a part of it: the next append, or `prepare`, writes the
line whole from the record, and readers meanwhile read it from there. So the trail has the
whole line or none of it, and an apply whose line was sealed is never missing from it. A last
line cut short with no redo record for it (left by an older version, or a cut file) is never
dropped: appending refuses, and `audit verify` names it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reconciler.audit.entry import GENESIS, AuditEntry, Draft, line_text, read_line, seal
from reconciler.errors import AuditError, quoted
from reconciler.formats import files, jsonfile
from reconciler.formats.atomic import atomic_write, sync_folder

logger = logging.getLogger(__name__)

# The longest line read back: an apply of 100,000 records writes about 15 MB.
MAX_LINE_BYTES = 64 * 1024 * 1024
_CHUNK = 8 * 1024  # read backwards from the end a chunk at a time: most lines fit one
_APPEND = (
    os.O_RDWR
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True)
class Tail:
    """Where the next line goes: after the line with this `seq` and `hash` (0 and GENESIS for
    an empty trail), at byte `size`."""

    seq: int
    hash: str
    size: int


class Line(NamedTuple):
    """One line of the trail as stored: its number (from 1) and bytes, without the end of line.
    `complete` is False for a last line that the file ends inside of; `pending` marks a line
    read from the redo record of an append that was interrupted (the next one writes it out).
    (A tuple: one is made for every line of a trail.)"""

    number: int
    raw: bytes
    complete: bool = True
    pending: bool = False


@dataclass(frozen=True)
class _Redo:
    offset: int  # where the line starts in the trail
    line: bytes  # the whole line, with its end of line


class AuditTrail:
    """One environment's audit file. `pending` is where its redo record is kept (local state,
    never committed), `root` the resolved repository that the file must stay inside, `shown`
    its name in messages."""

    def __init__(
        self,
        path: Path,
        *,
        pending: Path,
        root: Path,
        shown: str | None = None,
        environment: str | None = None,
    ) -> None:
        self.path = path
        self.pending = pending
        self.root = root
        self.shown = shown or str(path)
        self.environment = environment

    # -- appending (under the apply lock) ----------------------------------------------------

    def prepare(self) -> Tail:
        """Write out the line of an interrupted append, and check that the trail can take one
        more: AuditError otherwise. An apply calls this, under the lock, before its first call,
        so that a trail that cannot be appended to stops it while nothing is sent."""
        fd = self._open(create=False)
        if fd is None:
            return Tail(0, GENESIS, 0)
        try:
            return self._prepared(fd)
        finally:
            os.close(fd)

    def append(self, draft: Draft) -> AuditEntry:
        """Append `draft` as the next line, sealed after the last one; the entry written."""
        if self.environment is not None and draft.environment != self.environment:
            raise AuditError(
                f"an entry of environment {quoted(draft.environment)} does not belong in "
                f"{self.shown}, the trail of {quoted(self.environment)}"
            )
        fd = self._open(create=True)
        assert fd is not None
        try:
            tail = self._prepared(fd)
            entry = seal(draft, seq=tail.seq + 1, prev=tail.hash)
            data = line_text(entry).encode("utf-8")
            if len(data) > MAX_LINE_BYTES:
                raise AuditError(
                    f"the audit entry of this apply is {files.size_text(len(data))}, more than "
                    f"the {files.size_text(MAX_LINE_BYTES)} a line of {self.shown} may hold"
                )
            self._write_redo(_Redo(tail.size, data))
            self._write_at_end(fd, tail.size, data)
            self._drop_redo()
            return entry
        finally:
            os.close(fd)

    def _prepared(self, fd: int) -> Tail:
        size = os.fstat(fd).st_size
        redo = self._read_redo()
        if redo is not None:
            size = self._recover(fd, size, redo)
        return self._tail(fd, size)

    def _open(self, *, create: bool) -> int | None:
        """The trail open for reading and appending; when absent, created (with its folder)
        or None."""
        try:
            files.inside_or_absent(self.path, self.root)
        except files.Unreadable as exc:
            raise AuditError(
                f"the audit trail {self.shown} {exc}; check the audit path in reconciler.yaml"
            ) from None
        real = Path(os.path.realpath(self.path))
        created = not os.path.lexists(real)
        if created and not create:
            return None
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(real, _APPEND, 0o644)
        except OSError as exc:
            raise AuditError(
                f"cannot open the audit trail {self.shown}: {exc.strerror or exc}"
            ) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise AuditError(
                f"the audit trail {self.shown} is {files.kind_of_file(mode)}, not a file: "
                "remove it, or check the audit path in reconciler.yaml"
            )
        if created:
            sync_folder(real.parent)
        return fd

    def _tail(self, fd: int, size: int) -> Tail:
        """The last line's seq and hash, read from the end; AuditError when it is cut short
        or is no valid entry."""
        if size == 0:
            return Tail(0, GENESIS, 0)
        if _pread(fd, 1, size - 1) != b"\n":
            raise AuditError(
                f"{self.shown} ends with a line cut short (no end of line after it): an append "
                "was interrupted by an older reconciler, or the file was cut. Nothing was "
                f"appended. `reconciler audit verify{self._env_option}` names the line. Restore "
                f"the committed file (git checkout -- {self.shown}), or if the line was never "
                "committed, delete that partial last line."
            )
        raw = _line_before(fd, size)
        try:
            _document, entry = read_line(raw)
        except jsonfile.JsonProblem as exc:
            where = f" at {exc.where}" if exc.where else ""
            raise AuditError(
                f"the last line of {self.shown}{where} {exc.message}. Nothing was appended: a "
                "line chained to it would vouch for it. "
                f"`reconciler audit verify{self._env_option}` checks the whole trail; restore "
                f"the committed file (git checkout -- {self.shown})."
            ) from None
        return Tail(entry.seq, entry.hash, size)

    @property
    def _env_option(self) -> str:
        return f" --env {self.environment}" if self.environment else ""

    def _write_at_end(self, fd: int, offset: int, data: bytes) -> None:
        """Append `data` at `offset` (the end: the lock keeps other writers out), in one write,
        and make it durable. On failure the part written is cut off again."""
        try:
            written = os.write(fd, data)
            while written < len(data):  # only on a failing disk: the next write raises
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, offset)
                os.fsync(fd)
            raise AuditError(
                f"cannot append to the audit trail {self.shown}: {exc.strerror or exc}. The "
                f"line is kept in {self.pending}; the next apply writes it."
            ) from None

    # -- the redo record ---------------------------------------------------------------------

    def _write_redo(self, redo: _Redo) -> None:
        record = {"trail": self.shown, "offset": redo.offset, "line": redo.line.decode("utf-8")}
        try:
            atomic_write(self.pending, json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise AuditError(
                f"cannot write {self.pending} before appending to {self.shown}: "
                f"{exc.strerror or exc}. Nothing was appended."
            ) from None

    def _drop_redo(self) -> None:
        # Not fsynced: a record left behind describes a line the trail already holds whole,
        # which the next append recognises.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pending)

    def _read_redo(self) -> _Redo | None:
        try:
            raw = files.read_bytes(self.pending, root=self.root, limit=2 * MAX_LINE_BYTES + 4096)
        except FileNotFoundError:
            return None
        except (files.Unreadable, OSError) as exc:
            raise AuditError(f"cannot read {self.pending}: {exc}") from None
        try:
            record = jsonfile.loads(raw, depth=1)
            offset, line = record["offset"], record["line"]
            if not (isinstance(offset, int) and offset >= 0 and isinstance(line, str)):
                raise TypeError
            if not line.endswith("\n") or "\n" in line[:-1]:
                raise TypeError
            read_line(line[:-1].encode("utf-8"))
        except (jsonfile.JsonProblem, KeyError, TypeError) as exc:
            raise AuditError(
                f"{self.pending} is not the redo record of an append to {self.shown} ({exc}): "
                "only reconciler writes it. Move it out of the way and run the command again."
            ) from None
        return _Redo(offset, line.encode("utf-8"))

    def _recover(self, fd: int, size: int, redo: _Redo) -> int:
        """Finish the append that `redo` records; the trail's size afterwards."""
        end = redo.offset + len(redo.line)
        if size >= end and _pread(fd, len(redo.line), redo.offset) == redo.line:
            self._drop_redo()  # it was written whole: the record was only left behind
            return size
        if redo.offset <= size < end:
            partial = _pread(fd, size - redo.offset, redo.offset)
            before = self._tail(fd, redo.offset)
            _document, entry = read_line(redo.line[:-1])
            if b"\n" not in partial and entry.prev == before.hash:
                os.ftruncate(fd, redo.offset)
                self._write_at_end(fd, redo.offset, redo.line)
                self._drop_redo()
                logger.warning(
                    "%s: wrote line %d whole, from the redo record of an append that was "
                    "interrupted",
                    self.shown,
                    entry.seq,
                )
                return end
        raise AuditError(
            f"{self.pending} holds the line of an append to {self.shown} that was interrupted, "
            f"but the trail has changed since (it no longer ends where that line began, at byte "
            f"{redo.offset}). Keep the record (move it out of .reconciler/), check the trail "
            f"with `reconciler audit verify{self._env_option}`, and run the command again."
        )

    def _pending_for_reading(self, fd: int, size: int) -> _Redo | None:
        """The redo record, when the file ends where it says its line begins, or inside that
        line: an append under way or interrupted, whose line readers take from the record."""
        try:
            redo = self._read_redo()
        except AuditError:
            return None
        if redo is None or not redo.offset <= size < redo.offset + len(redo.line):
            return None
        if not redo.line.startswith(_pread(fd, size - redo.offset, redo.offset)):
            return None
        return redo

    # -- reading ------------------------------------------------------------------------------

    def lines(self) -> Iterator[Line]:
        """Every line as stored, one at a time (none when there is no file yet)."""
        try:
            files.inside_or_absent(self.path, self.root)  # its folder may not lead out either
            handle = files.open_regular(self.path, root=self.root)
        except FileNotFoundError:
            return
        except files.Unreadable as exc:
            raise AuditError(
                f"the audit trail {self.shown} {exc}; check the audit path in reconciler.yaml"
            ) from None
        except OSError as exc:
            raise AuditError(f"cannot read the audit trail {self.shown}: {exc}") from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            redo = self._pending_for_reading(handle.fileno(), size)
            stop = redo.offset if redo is not None else None
            number = position = 0
            while stop is None or position < stop:
                raw = handle.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                number += 1
                position += len(raw)
                if raw.endswith(b"\n"):
                    yield Line(number, raw[:-1])
                elif len(raw) > MAX_LINE_BYTES:
                    raise AuditError(
                        f"{self.shown}, line {number}: longer than "
                        f"{files.size_text(MAX_LINE_BYTES)}, which no line reconciler writes is"
                    )
                else:
                    yield Line(number, raw, complete=False)
            if redo is not None:
                yield Line(number + 1, redo.line[:-1], pending=True)

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry, in order; AuditError naming the first line that is not one (its hash
        is checked too; the chain is `audit verify`'s to check)."""
        for line in self.lines():
            if not line.complete:
                raise AuditError(
                    f"{self.shown}, line {line.number}: cut short (the file ends inside it). "
                    f"`reconciler audit verify{self._env_option}` says more."
                )
            try:
                yield read_line(line.raw)[1]
            except jsonfile.JsonProblem as exc:
                where = f" at {exc.where}" if exc.where else ""
                raise AuditError(
                    f"{self.shown}, line {line.number}{where}: {exc.message}. "
                    f"`reconciler audit verify{self._env_option}` checks the whole trail."
                ) from None


def _pread(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes of `fd` from `offset` (fewer at the end of the file)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows: one reader per fd here
    chunks = []  # pragma: no cover
    while size > 0:  # pragma: no cover
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)  # pragma: no cover


def _line_before(fd: int, end: int) -> bytes:
    """The bytes of the line whose end of line is the byte before `end`, read backwards a
    chunk at a time (without that end of line)."""
    pieces: list[bytes] = []
    position = end - 1
    total = 0
    while position > 0:
        start = max(0, position - _CHUNK)
        data = _pread(fd, position - start, start)
        cut = data.rfind(b"\n")
        if cut >= 0:
            pieces.append(data[cut + 1 :])
            break
        pieces.append(data)
        total += len(data)
        if total > MAX_LINE_BYTES:
            raise AuditError(
                f"the last line of the audit trail is longer than "
                f"{files.size_text(MAX_LINE_BYTES)}, which no line reconciler writes is"
            )
        position = start
    return b"".join(reversed(pieces))
