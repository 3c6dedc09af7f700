"""What the reconciler reads of git: the commit a record was applied from, and for `history`
the commits of a file and the file's content at a commit. Plain `git` in a subprocess."""

from __future__ import annotations

import subprocess
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from reconciler.errors import ReconcilerError
from reconciler.git.commits import Commit, FileChange

TIMEOUT = 600  # seconds: a log of a large history, never an endless wait


def head_commit(repo: Path) -> str | None:
    """The repository's HEAD commit, recorded with each applied record (None outside git)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class GitError(ReconcilerError):
    """git is missing, or refused a command."""


def git(repo: Path, *args: str) -> str:
    """The output of `git -C repo ARGS` (UTF-8, bad bytes replaced); GitError when it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH): history reads git") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode("utf-8", "replace")


def in_repository(repo: Path) -> bool:
    """Whether `repo` is inside a git work tree with at least one commit."""
    try:
        git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError:
        return False
    return True


def shallow_commits(repo: Path) -> frozenset[str]:
    """The commits a shallow clone cut the history at (empty for a full clone)."""
    path = git(repo, "rev-parse", "--git-path", "shallow").strip()
    shallow = Path(path) if Path(path).is_absolute() else repo / path
    try:
        return frozenset(shallow.read_text(encoding="ascii").split())
    except FileNotFoundError:
        return frozenset()


def shallow_note(shallow: frozenset[str]) -> list[str]:
    """What a view says of a shallow clone's cut history (nothing for a full clone)."""
    if not shallow:
        return []
    cut = ", ".join(sorted(sha[:10] for sha in shallow))
    return [
        f"This is a shallow clone: the history before {cut} is missing "
        "(`git fetch --unshallow` fetches it)."
    ]


_FORMAT = "%x1e%H%x1f%P%x1f%aI%x1f%ct%x1f%an%x1f%s"


def _commit(header: str) -> Commit:
    sha, parents, date, timestamp, author, subject = header.split("\x1f", 5)
    return Commit(sha, date, author, subject, tuple(parents.split()), int(timestamp or 0))


def file_log(repo: Path, path: str) -> list[FileChange]:
    """Newest first, every commit that changed `path`, following renames (`git log --follow`)."""
    out = git(
        repo,
        "log",
        "--follow",
        "--relative",
        "-M",
        "--name-status",
        "-z",
        f"--format={_FORMAT}",
        "--",
        path,
    )
    changes: list[FileChange] = []
    for record in out.split("\x1e")[1:]:
        header, _, rest = record.partition("\n")
        header = header.rstrip("\x00")
        fields = [f for f in rest.strip("\n\x00").split("\x00") if f]
        commit = _commit(header)
        if not fields:
            continue
        status = fields[0][0]
        if status in "RC" and len(fields) >= 3:
            changes.append(FileChange(commit, status, fields[2], fields[1]))
        else:
            changes.append(FileChange(commit, status, fields[1], None))
    return changes


def folders_log(repo: Path, folders: Sequence[str]) -> Iterator[tuple[Commit, list[FileChange]]]:
    """Newest first, every commit that changed a file under `folders`, with its changes there
    (renames detected within each commit, `-M`): one `git log` for every record file at once,
    where `file_log` follows one file."""
    out = git(
        repo,
        "log",
        "--relative",
        "-M",
        "--name-status",
        "-z",
        f"--format={_FORMAT}",
        "--",
        *folders,
    )
    for record in out.split("\x1e")[1:]:
        header, _, rest = record.partition("\n")
        commit = _commit(header.rstrip("\x00"))
        fields = [f for f in rest.strip("\n\x00").split("\x00") if f]
        changes: list[FileChange] = []
        at = 0
        while at < len(fields):
            status = fields[at][0]
            if status in "RC" and at + 2 < len(fields):
                changes.append(FileChange(commit, status, fields[at + 2], fields[at + 1]))
                at += 3
            elif at + 1 < len(fields):
                changes.append(FileChange(commit, status, fields[at + 1], None))
                at += 2
            else:
                break
        yield commit, changes


def last_commit(repo: Path) -> Commit | None:
    """The commit HEAD names (None outside git, or before the first commit)."""
    try:
        out = git(repo, "log", "-1", f"--format={_FORMAT}")
    except GitError:
        return None
    records = out.split("\x1e")[1:]
    return _commit(records[0].strip("\n")) if records else None


def commits_of(repo: Path, path: str) -> list[Commit]:
    """Newest first, the commits of the first-parent history that changed `path`."""
    out = git(repo, "log", "--first-parent", f"--format={_FORMAT}", "--", path)
    return [_commit(record.strip("\n")) for record in out.split("\x1e")[1:]]


class Blobs:
    """Files at commits, read through one `git cat-file --batch` process."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    def read(self, commit: str, path: str) -> bytes | None:
        """The content of `path` (relative to the repository) at `commit`; None when absent."""
        stdin, stdout = self._pipes()
        stdin.write(f"{commit}:./{path}\n".encode())
        stdin.flush()
        # "<object> <type> <size>", or "<spec> missing" / "<spec> ambiguous", where the spec
        # holds the path, spaces and all: read from the right.
        header = stdout.readline().decode("utf-8", "replace").rstrip("\n").rsplit(" ", 2)
        if len(header) != 3 or not header[2].isdigit():
            return None
        size = int(header[2])
        data = stdout.read(size)
        stdout.read(1)  # the newline after the content
        return data if header[1] == "blob" else None

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None or self._process.poll() is not None:
            raise GitError("git cat-file stopped while reading history")
        return stdin, stdout


@contextmanager
def blobs(repo: Path) -> Iterator[Blobs]:
    """A reader of files at commits, for the length of the block."""
    try:
        process = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH): history reads git") from None
    try:
        yield Blobs(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def config_value(repo: Path, key: str) -> str | None:
    """A git setting as `git config --get KEY` gives it in `repo` (None when unset, or outside
    git)."""
    try:
        value = git(repo, "config", "--get", key).strip()
    except GitError:
        return None
    return value or None


def file_versions(repo: Path, path: str) -> Generator[tuple[Commit, bytes | None], None, None]:
    """Oldest first, each commit of the first-parent history that changed `path` (relative to
    `repo`), with the file's content there (None where the commit removed it)."""
    commits = commits_of(repo, path)
    with blobs(repo) as reader:
        for commit in reversed(commits):
            yield commit, reader.read(commit.sha, path)


def tracked(repo: Path, paths: Sequence[str]) -> set[str]:
    """Which of `paths` (relative to the repository) git has a commit of."""
    return {p for p in paths if git(repo, "log", "-1", "--format=%H", "--", p).strip()}
