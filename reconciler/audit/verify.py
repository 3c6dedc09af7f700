"""`audit verify`: the chain of the trail, and, where the trail is in git, that every committed
version of it extends the one before (SPEC 9).

The chain shows that no line was changed, removed, inserted or moved since the line after it
was written. It cannot show that someone who rewrote a line and computed every hash after it
again did not: such a trail is a sound chain. What git adds is the trail's past: each version
committed must be the one before it with lines added at the end, so a rewrite committed on top
of the history is named by its commit. A rewrite of the history itself (a force-push) is for
branch protection to stop, and for an `anchor` to find: the hash of a line the auditor noted
at an earlier audit, which the trail must still hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from reconciler.audit.entry import GENESIS, read_line
from reconciler.audit.findings import BadLine, BadVersion, Verification
from reconciler.audit.quick import Quick, quick_read
from reconciler.audit.trail import AuditTrail, Line
from reconciler.errors import AuditError, quoted
from reconciler.formats import files, jsonfile
from reconciler.git import reader as git
from reconciler.git.commits import Commit


def verify_trail(
    trail: AuditTrail,
    *,
    environment: str,
    repo: Path,
    relative: str,
    anchors: Sequence[str] = (),
) -> Verification:
    """Check the chain of `trail` (the file `relative` to `repo`, the git work tree), and its
    committed versions when git has any; each `anchor` must be the hash of one of its lines."""
    count, last_hash, bad_line, notes, seen = check_chain(
        trail.lines(), environment=environment, anchors=anchors, shown=trail.shown
    )
    commits, bad_version, git_notes = check_history(repo, relative, trail.path)
    missing = tuple(a for a in anchors if a not in seen)
    return Verification(
        trail=trail.shown,
        environment=environment,
        lines=count,
        last_hash=last_hash,
        bad_line=bad_line,
        bad_version=bad_version,
        missing_anchors=missing if bad_line is None else (),
        commits=commits,
        notes=(*notes, *git_notes),
    )


def check_chain(
    lines: Iterable[Line], *, environment: str, anchors: Sequence[str] = (), shown: str = ""
) -> tuple[int, str, BadLine | None, list[str], set[str]]:
    """(sound lines, the last one's hash, the first bad line, notes, the anchors seen) of a
    trail's lines: each a valid entry of `environment` whose hash matches its content, whose
    `seq` is its line number and whose `prev` is the hash of the line before."""
    wanted = set(anchors)
    seen: set[str] = set()
    notes: list[str] = []
    previous, count = GENESIS, 0
    for line in lines:
        number = line.number
        if not line.complete:
            return count, previous, BadLine(number, _cut_short(shown)), notes, seen
        entry = quick_read(line.raw)
        if entry is None:  # not as reconciler writes a line: read it the slow way, which decides
            try:
                _document, full = read_line(line.raw)
            except jsonfile.JsonProblem as exc:
                where = f" (at {exc.where})" if exc.where else ""
                return count, previous, BadLine(number, f"{exc.message}{where}"), notes, seen
            entry = Quick(full.seq, full.prev, full.hash, full.environment)
        bad = None
        if entry.seq != number:
            bad = (
                f"has seq {entry.seq} where {number} belongs: a line before it was removed or "
                "inserted, or lines were moved"
            )
        elif entry.prev != previous:
            bad = (
                "does not follow the line before it (its prev is not that line's hash): a line "
                "was removed, inserted or moved"
            )
        elif entry.environment != environment:
            bad = (
                f"is an entry of environment {quoted(entry.environment)}, not "
                f"{quoted(environment)}: it was copied from another trail"
            )
        if bad is not None:
            return count, previous, BadLine(number, bad), notes, seen
        if line.pending:
            notes.append(
                f"Line {number} is the line of an append that was interrupted: it is kept in "
                ".reconciler/audit/ until the next apply writes it to the file."
            )
        if entry.hash in wanted:
            seen.add(entry.hash)
        previous, count = entry.hash, count + 1
    return count, previous, None, notes, seen


def _cut_short(shown: str) -> str:
    return (
        "is cut short: the file ends inside it (no end of line). An append was interrupted "
        "by an older reconciler, or the file was cut. Restore the committed file "
        f"(git checkout -- {shown}), or if the line was never committed, delete that partial "
        "last line."
    )


def check_history(
    repo: Path, relative: str, path: Path
) -> tuple[int, BadVersion | None, list[str]]:
    """(versions compared, the first that does not extend the one before, notes) of the file
    `relative` to the git work tree `repo` (the file itself at `path`): each committed version
    must start with the version before it, and the file in the work tree with the last."""
    if not git.in_repository(repo):
        return (
            0,
            None,
            [f"{relative} is not in a git repository with a commit: only its chain was checked."],
        )
    notes: list[str] = []
    shallow = git.shallow_commits(repo)
    if shallow:
        cut = ", ".join(sorted(sha[:10] for sha in shallow))
        notes.append(
            f"This is a shallow clone: versions committed before {cut} were not compared "
            "(`git fetch --unshallow` fetches them)."
        )
    count = 0
    previous: bytes | None = None
    before: Commit | None = None
    versions = git.file_versions(repo, relative)
    with contextlib.closing(versions):
        for commit, data in versions:
            count += 1
            if previous is not None:
                why = _not_extended(previous, data, relative)
                if why is not None:
                    assert before is not None
                    bad = BadVersion(commit.sha, before.sha, commit.date, commit.subject, why)
                    return count, bad, notes
            previous, before = data, commit
    if before is None:
        notes.append(f"{relative} has no commit: only its chain was checked.")
        return 0, None, notes
    working = _working_tree(path, repo, relative)
    if previous is not None:
        why = _not_extended(previous, working, relative)
        if why is not None:
            return count, BadVersion("", before.sha, "", "", why), notes
        assert working is not None
        added = working.count(b"\n") - previous.count(b"\n")
        if added:
            notes.append(
                f"{added} line{'s' if added != 1 else ''} of {relative} "
                f"{'are' if added != 1 else 'is'} not committed yet."
            )
    return count, None, notes


def _not_extended(old: bytes, new: bytes | None, relative: str) -> str | None:
    """Why `new` is not `old` with lines added at its end (None when it is)."""
    if new is None:
        lines = old.count(b"\n")
        return f"removes {relative}, which held {lines} line{'s' if lines != 1 else ''}"
    if new.startswith(old):
        return None
    line = new.count(b"\n", 0, _common_prefix(old, new)) + 1
    if len(new) < len(old) and old.startswith(new):
        return f"cuts {relative} short: its lines from line {line} on were removed"
    return f"changes line {line} of {relative}, which was committed before"


def _common_prefix(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix of `a` and `b` (by halves: compared in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _working_tree(path: Path, repo: Path, relative: str) -> bytes | None:
    """The file as it is in the work tree (line ends as committed), None when absent."""
    try:
        data = files.read_bytes(path, root=repo.resolve(), limit=files.MAX_DOCUMENT_BYTES)
    except FileNotFoundError:
        return None
    except (files.Unreadable, OSError) as exc:
        raise AuditError(f"cannot read the audit trail {relative}: {exc}") from None
    # A checkout with core.autocrlf turns the ends of line into CRLF; git stores LF.
    return data.replace(b"\r\n", b"\n") if b"\r\n" in data else data
