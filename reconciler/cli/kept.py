"""`plan` and `validate` answered again from a kept answer (reconcile/answers.py) before click,
pydantic or the commands are imported; else the run recorded, so that the next identical
question can be.

The entry point (reconciler/__main__.py) calls `answer()` first. When the command line is a
question that may be kept (`question`) and its answer is valid, the answer's bytes are written
to stdout and stderr in the order the run that made it wrote them, and the process exits with
its status. Otherwise the command runs in full, with its output streams recorded as they reach
the file descriptors: the command group (cli/base.py) reports the workspace it ran in once the
command returned (`completed`), and the entry point keeps the answer when the process exits
(`finish`). A command that failed (an exception, however reported) is never kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from reconciler.reconcile import answers

if TYPE_CHECKING:
    from reconciler.reconcile.workspace import Workspace

FLAG = ()
# The options a kept question may hold, each with the values it may take (FLAG: none; None:
# any). Anything else (--out, --refresh, --no-cache, --verbose, --format markdown, --help, a
# misspelling) runs the command in full.
SHARED: dict[str, tuple[str, ...] | None] = {"--env": None, "--repo": None, "--jobs": None}
COMMANDS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "plan": {"--format": ("text", "json"), "--detailed-exitcode": FLAG, "--force": FLAG},
    "validate": {"--format": ("text", "github", "json")},
}
# The process environment's variables that `plan` and `validate` read (cli/base.py); a test
# checks that the package reads no other on their path.
READ = ("REDOX_ENV", "NO_COLOR")


@dataclass(frozen=True)
class Question:
    """A command line that may be answered from a kept answer: its repository (resolved) and
    its key, the digest of everything of the process its answer depends on."""

    repo: str
    key: str


def question(
    argv: list[str], environ: dict[str, str], streams: tuple[TextIO, TextIO]
) -> Question | None:
    """The Question of `argv`, or None when it is not one that is kept."""
    command: str | None = None
    repo: str | None = None
    rest = list(argv)
    while rest:
        token = rest.pop(0)
        if command is None and token in COMMANDS:
            command = token
            continue
        name, equals, value = token.partition("=")
        allowed = {**SHARED, **COMMANDS.get(command or "", {})}
        if not name.startswith("--") or name not in allowed:
            return None
        choices = allowed[name]
        if choices == FLAG:
            if equals:
                return None
            continue
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        if choices is not None and value not in choices:
            return None
        if name == "--repo":
            if repo is not None:
                return None
            repo = value
    if command is None:
        return None
    try:
        cwd = os.getcwd()
        where = os.path.realpath(repo if repo is not None else cwd)
    except OSError:
        return None
    out, err = streams
    facts = {
        "argv": argv,
        "cwd": cwd,
        "repo": where,
        "environ": {name: environ.get(name) for name in READ},
        "terminal": [_isatty(out), _isatty(err)],
        "encodings": [[s.encoding, s.errors] for s in streams],
        "user": os.getuid() if hasattr(os, "getuid") else None,
    }
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return Question(where, key)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- recording -----------------------------------------------------------------------------


@dataclass
class Recording:
    """The output of one run as it reached its file descriptors, in `path`."""

    question: Question
    clock: int
    path: str
    sink: BinaryIO
    originals: tuple[TextIO, TextIO]  # the streams before the recording, given back at the end
    parts: list[list[int]] = field(default_factory=list)  # [stream, length], in order
    size: int = 0
    spoiled: bool = False  # too large, or a write that failed: not kept
    inputs: answers.Inputs | None = None  # what the run read, once the command returned
    finished: bool = False  # what is written after the answer was kept is not part of it

    def add(self, stream: int, data: bytes) -> None:
        if self.spoiled or self.finished:
            return
        self.size += len(data)
        if self.size > answers.MAX_BYTES:
            self.spoiled = True
            return
        try:
            self.sink.write(data)
        except (OSError, ValueError):  # a full disk; a closed sink
            self.spoiled = True
            return
        if self.parts and self.parts[-1][0] == stream:
            self.parts[-1][1] += len(data)
        else:
            self.parts.append([stream, len(data)])


class _Tee(io.RawIOBase):
    """A file descriptor's raw writes, each also added to the recording."""

    def __init__(self, fd: int, stream: int, recording: Recording) -> None:
        super().__init__()
        self._fd, self._stream, self._recording = fd, stream, recording

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        written = os.write(self._fd, data)
        self._recording.add(self._stream, bytes(memoryview(data)[:written]))
        return written


def _recorded(original: TextIO, stream: int, recording: Recording) -> TextIO:
    """A text stream as `original` is (encoding, errors, buffering: PYTHONUNBUFFERED leaves
    no buffer under the text layer), whose bytes are recorded as they are written to its file
    descriptor, so that the two streams interleave as they would have."""
    fd = original.fileno()
    binary: Any = _Tee(fd, stream, recording)
    if isinstance(original.buffer, io.BufferedWriter):
        try:
            size = os.fstat(fd).st_blksize
        except OSError:
            size = 0
        binary = io.BufferedWriter(binary, buffer_size=size if size > 1 else io.DEFAULT_BUFFER_SIZE)
    return io.TextIOWrapper(
        binary,
        encoding=original.encoding,
        errors=original.errors,
        line_buffering=bool(original.line_buffering),
        write_through=getattr(original, "write_through", False),
    )


_recording: Recording | None = None


def answer() -> None:
    """Print the kept answer to this command line and exit with its status, when there is a
    valid one; else start recording the run when its answer may be kept."""
    global _recording
    streams = (sys.stdout, sys.stderr)
    try:
        asked = question(sys.argv[1:], dict(os.environ), streams)
        found = answers.kept(asked.repo, asked.key) if asked is not None else None
    except KeyboardInterrupt:
        os.write(2, b"Interrupted.\n")  # as the command group says it (cli/base.py)
        raise SystemExit(130) from None
    except Exception:  # a kept answer is only ever a shortcut
        asked = found = None  # the command runs in full, as if none were kept
    if asked is None:
        return
    if found is not None:
        _replay(found)
    try:
        started = answers.clock_now(asked.repo)
        path = answers.recording_path(asked.repo)
        sink = open(path, "wb")  # noqa: SIM115 -- closed by finish()
    except OSError:
        return  # a repository that cannot be written: nothing is kept
    recording = Recording(asked, started, path, sink, streams)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = _recorded(sys.stdout, 1, recording), _recorded(sys.stderr, 2, recording)
    except (OSError, ValueError, AttributeError):
        # A stream with no file descriptor (an embedding host): the run is not recorded.
        sink.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    _recording = recording
    sys.stdout, sys.stderr = out, err


def _replay(found: answers.Kept) -> None:
    """Write a kept answer's bytes, each to its stream, and exit with its status."""
    try:
        for stream, data in found.chunks():
            view = memoryview(data)
            while view:
                view = view[os.write(stream, view) :]
    except BrokenPipeError:
        raise SystemExit(1) from None  # as click ends a command whose reader went away
    except OSError as exc:
        # As the command group reports a file it cannot write (cli/base.py).
        os.write(2, f"Error: {exc.strerror or exc}: \n".encode())
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        os.write(2, b"Interrupted.\n")
        raise SystemExit(130) from None
    raise SystemExit(found.code)


def completed(ws: Workspace | None) -> None:
    """The command returned without an error, having worked in `ws`: what it read makes its
    answer (called by the command group; nothing happens when the run is not recorded)."""
    if _recording is None or ws is None or os.path.realpath(ws.repo) != _recording.question.repo:
        return
    _recording.inputs = ws.read_inputs()


def finish(code: object) -> None:
    """The process exits with `code`: keep the recorded answer when the command completed."""
    global _recording
    recording, _recording = _recording, None
    if recording is None:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        recording.spoiled = True
    recording.finished = True
    # What runs after (atexit, logging's last flush) writes to the streams themselves.
    sys.stdout, sys.stderr = recording.originals
    try:
        recording.sink.close()
    except OSError:
        recording.spoiled = True  # its last bytes may be missing: not kept
    if recording.spoiled or recording.inputs is None or not isinstance(code, int):
        with contextlib.suppress(OSError):  # another run may have removed it (answers._prune)
            os.unlink(recording.path)
        return
    answers.keep(
        recording.question.repo,
        recording.question.key,
        clock=recording.clock,
        inputs=recording.inputs,
        recording=recording.path,
        parts=[(s, n) for s, n in recording.parts],
        code=code,
    )
